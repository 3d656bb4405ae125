"""Serialises reports in the format a client asks for."""
