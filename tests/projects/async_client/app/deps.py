"""Dependencies shared by every request handler."""
from .client import ApiClient

client = ApiClient()


async def fetch_user(user_id):
    return await client.request(f"/users/{user_id}")


async def fetch_orders(user_id):
    return await client.request(f"/users/{user_id}/orders")
