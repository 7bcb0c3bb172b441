"""Files in, files out: what each command does once its options are parsed (register,
segment, qc, evaluate, training runs, the experiments, the demo, sharded tables)."""
