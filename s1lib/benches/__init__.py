"""The benches: ``s1 bench NAME`` runs ``s1lib.benches.NAME.run_bench`` (``s1lib.cli.BENCHES``).

Each measures a performance target side by side in one run and prints ratios (never a timed unit test): ``forcing``,
``vllm`` and ``serve`` (what budget forcing costs on each backend), ``sweep`` (prefix sharing; and the grading
bench), ``curate`` and ``domains`` (curation), ``train`` (padding-free batches), ``precision`` (float32 against
bf16), ``widget`` (the live widget's stream) and ``adaptive`` (adaptive budgets on the demo's model). This room
sits above every other: a bench may use any part of the library, nothing below imports a bench.
"""
