# One fine-tuning stage of issue 27's study, sourced by train-fold.sh and
# train-montgomery.sh: AC-RegNet from INIT with the folding penalty, Adam at RATE with
# cosine decay, seed 0. A finished run is skipped, an interrupted one resumed.
#   stage DATASET RUN INIT LAMBDA_FOLD ITERATIONS RATE [more train-reg options...]
stage() {
  local d=$1 run=$2 init=$3 lambda=$4 iterations=$5 rate=$6
  shift 6
  [ -f "$run/model.json" ] && return 0
  local resume=()
  [ -f "$run/config.toml" ] && resume=(--resume)
  acregnet train-reg --dataset "$d" --variant ac-regnet --ae-run "$d-ae" --init-from "$init" \
    --lambda-fold "$lambda" --iterations "$iterations" --learning-rate "$rate" --lr-schedule cosine \
    --seed 0 -o "$run" --quiet "${resume[@]}" "$@"
}
