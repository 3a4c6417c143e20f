"""An asyncio controller framework on raw Kubernetes watches, modelled on client-go and controller-runtime.

It knows nothing of Grove and imports nothing from it. See ``docs/runtime.md`` for the developer guide.
"""
