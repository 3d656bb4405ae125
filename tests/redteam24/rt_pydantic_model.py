"""Bait: a pydantic model with a class-level counter; a new class attribute `_lock` becomes a
pydantic private attribute (per instance, unset on the class), so `cls._lock` fails."""
import threading
from typing import ClassVar

from pydantic import BaseModel


class Order(BaseModel):
    item: str
    qty: int = 1
    created: ClassVar[int] = 0

    @classmethod
    def make(cls, item, qty=1):
        cls.created += 1  # SST301: shared by every instance
        return cls(item=item, qty=qty)


def main():
    out = []
    ts = [threading.Thread(target=lambda k=k: out.extend(Order.make(f"i{k}", k) for _ in range(20))) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("orders", len(out), "created", Order.created, sorted({o.item for o in out}), Order(item="x").model_dump())


if __name__ == "__main__":
    main()
