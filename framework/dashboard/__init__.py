"""The live dashboard (``papertrade run --live --dashboard [HOST:]PORT``).

``board`` gathers what the page shows, off the loop's hot path; ``page`` renders the page
(Bokeh, inlined); ``app`` serves it and its server-sent events with Starlette on Hypercorn's
trio worker, inside the run's own trio loop.
"""
