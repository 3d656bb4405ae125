import hashlib

users = {}
created = []


def create(name, password):
    if name in users:
        raise ValueError(name)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), b"salt", 2000).hex()  # slow, releases the GIL
    users[name] = digest
    created.append(name)
    return digest
