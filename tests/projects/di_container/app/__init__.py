"""A billing service wired with a small dependency-injection container."""
