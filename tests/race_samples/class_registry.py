class PluginRegistry:
    """Plugins by kind, on the class: every registry object shares them."""

    _plugins = {}

    @classmethod
    def register(cls, kind, plugin):
        cls._plugins[kind] = cls._plugins.get(kind, []) + [plugin]

    @classmethod
    def count(cls, kind):
        return len(cls._plugins.get(kind, []))
