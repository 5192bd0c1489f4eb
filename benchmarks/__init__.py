"""The usage-async benchmark suite: ``python -m benchmarks`` (see ``benchmarks/README.md``).

A page server runs in its own process and serves pre-rendered pages; each client under test
(usage-async, and the ``floor`` and ``openai`` baselines) runs in a worker process of its own,
so ``time.process_time()`` there is the client's CPU alone. Every run is checked (buckets,
results, a token checksum, and the requests the server counted) before its figures count.

Layout, arrows pointing down only:

* ``__main__`` -> ``runner`` (command line, orchestration) -> ``report`` (tables, targets)
* ``runner`` -> ``server`` (the page server process) -> ``pages`` (rendering, pure)
* ``runner`` -> ``worker`` (one client process) -> ``clients.*`` (one module per client)
* everything -> ``scenarios`` (sizes and shapes, data only)
"""
