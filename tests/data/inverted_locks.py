"""SST403: transfer() takes accounts_lock then audit_lock; report() takes them the other way
round. Two threads, one in each, wait for each other forever."""
import threading

accounts_lock = threading.Lock()
audit_lock = threading.Lock()
balances = {"a": 100, "b": 100}
audit = []


def transfer(source, target, amount):
    with accounts_lock:
        balances[source] -= amount
        balances[target] += amount
        with audit_lock:
            audit.append((source, target, amount))


def report():
    with audit_lock:
        entries = len(audit)
        with accounts_lock:
            return entries, sum(balances.values())
