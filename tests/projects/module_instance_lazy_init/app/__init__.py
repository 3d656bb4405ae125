"""Pushes orders to the fulfilment API from a pool of worker threads."""
