"""An asyncio gateway that calls an upstream API with a refreshed bearer token."""
