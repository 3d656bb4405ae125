"""A serialisation format whose codec module is imported on first use."""
import importlib


class LazyFormat:
    def __init__(self, name, module_name, media_type):
        self.name = name
        self.module_name = module_name
        self.media_type = media_type
        self._imported = False
        self._codec = None

    def _import(self):
        self._imported = True
        self._codec = importlib.import_module(self.module_name)

    def dumps(self, obj):
        if not self._imported:
            self._import()
        return self._codec.dumps(obj)
