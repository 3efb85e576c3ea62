"""The stack config: typed models of every key of `Pulumi.<stack>.yaml`, AWS value catalogues, the loader."""
