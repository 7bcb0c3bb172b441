# Sourced by the results scripts: what they need to know of a run directory.
# A registration run that finished all its iterations and kept its weights.
trained() { [ -f "$1/summary.json" ] && [ -f "$1/vector_cnn.weights.h5" ]; }
