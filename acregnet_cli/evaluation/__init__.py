"""The paper's Table 1 protocol: random test pairs, methods, cache, statistics, report."""

from acregnet_cli.evaluation.methods import (
                                             EVALUATION_SIZE,
                                             Method,
                                             method_fingerprint,
                                             parse_method,
                                             parse_methods,
)
from acregnet_cli.evaluation.protocol import draw_pairs, evaluate
from acregnet_cli.evaluation.statistics import (
                                             averages,
                                             p_value_matrix,
                                             pair_table,
                                             summarize,
                                             wilcoxon_tests,
)
from acregnet_cli.metrics import METRICS

__all__ = ["EVALUATION_SIZE", "METRICS", "Method", "averages", "draw_pairs", "evaluate", "method_fingerprint",
           "p_value_matrix", "pair_table", "parse_method", "parse_methods", "summarize", "wilcoxon_tests"]
