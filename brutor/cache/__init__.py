"""The semantic cache's library pieces: keys, entry stores and vector indexes.

The pipeline stage that uses them lives in ``brutor.pipeline``; everything here takes its dependencies
(Redis client, Qdrant client, clock) as arguments and holds no module-level state. Nothing is imported
here: the config imports ``brutor.cache.config``, and a gateway without a cache must not load numpy.
"""
