#!/usr/bin/env bash
# Hostile inputs end with a clear message, never a crash. Every case below feeds moeprobe one
# malformed input (a file of every format it reads, or a command line) and requires:
#   - a non-zero exit status below 124 (no signal, no timeout, no "command not found");
#   - stderr matching the case's pattern, which names the file, key, index or byte offset;
#   - at most the case's number of stderr lines (one message; a YAML config prints one line per
#     problem plus the summary), and no sanitizer report or MPI abort banner.
# Each case is one check, "bad_inputs/BIN/NAME". The suite runs with $MOEPROBE_BIN and again with
# the ASan/UBSan build bin-debug/moeprobe; that rerun is its own single check,
# "bad_inputs/asan_ubsan" (plus a FAIL line per case it breaks), so no case counts twice
# (tests/run.sh bin-debug runs the suite once, with that binary). A missing or stale
# bin-debug/moeprobe is built here (the binary only: ~50 s from scratch, seconds when up to date);
# if that build fails, so does the check.
# Under ASan leak detection is off here: Open MPI's own allocations at exit would drown it; the
# parsers' leaks are checked by the fuzzers (tests/fuzz, LeakSanitizer on).
set -u
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/bad_inputs; rm -rf "$T"; mkdir -p "$T"
M=$R/models/tiny-qwen2moe
L=$R/data/lre
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
# A command run outside mpirun is an MPI singleton; without this Open MPI starts a helper daemon
# for each (~0.8 s); with it ~0.3 s. Messages and exit codes are the same.
export OMPI_MCA_ess_singleton_isolated=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# ---- malformed files -------------------------------------------------------------------------
# A model folder: symlinks to every file of SRC, then the named files replaced by real files.
mkmodel() {  # NAME SRC
  mkdir -p "$T/$1"
  for f in "$2"/*; do ln -sf "$f" "$T/$1/$(basename "$f")"; done
}
own() {  # MODEL FILE: replace the symlink by a writable copy
  cp --remove-destination "$(readlink -f "$T/$1/$2")" "$T/$1/$2"; chmod u+w "$T/$1/$2"
}
jedit() {  # FILE PYTHON-EXPR-ON-d: rewrite a JSON file (test-time helper only)
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
p, expr = sys.argv[1], sys.argv[2]
d = json.load(open(p))
exec(expr)
json.dump(d, open(p, "w"), indent=1)
PY
}
SH1=model-00001-of-00010.safetensors
mkmodel noconfig "$M"; rm "$T/noconfig/config.json"
mkmodel gpt2 "$M"; own gpt2 config.json; jedit "$T/gpt2/config.json" 'd["architectures"]=["GPT2LMHeadModel"]; d["model_type"]="gpt2"'
mkmodel cfgjson "$M"; rm "$T/cfgjson/config.json"; printf '{"architectures": ["Qwen2MoeForCausalLM"],\n  "hidden_size": 128,,\n}' > "$T/cfgjson/config.json"
mkmodel cfgtype "$M"; own cfgtype config.json; jedit "$T/cfgtype/config.json" 'd["num_hidden_layers"]="six"'
mkmodel cfgrange "$M"; own cfgrange config.json; jedit "$T/cfgrange/config.json" 'd["num_experts_per_tok"]=40'
mkmodel cfgrope "$M"; own cfgrope config.json; jedit "$T/cfgrope/config.json" 'd["rope_scaling"]={"type":"yarn","factor":4.0}'
mkmodel cfgact "$M"; own cfgact config.json; jedit "$T/cfgact/config.json" 'd["hidden_act"]="gelu"'
mkmodel cfglayers "$M"; own cfglayers config.json; jedit "$T/cfglayers/config.json" 'd["num_hidden_layers"]=7; d["layer_types"]=["full_attention"]*7'
mkmodel cfgwidth "$M"; own cfgwidth config.json; jedit "$T/cfgwidth/config.json" 'd["hidden_size"]=96'
mkmodel truncshard "$M"; own truncshard $SH1; truncate -s $(( $(stat -c %s "$T/truncshard/$SH1") / 2 )) "$T/truncshard/$SH1"
mkmodel truncheader "$M"; own truncheader $SH1; truncate -s 40 "$T/truncheader/$SH1"
mkmodel tinyshard "$M"; own tinyshard $SH1; truncate -s 5 "$T/tinyshard/$SH1"
mkmodel hugeheader "$M"; own hugeheader $SH1; printf '\xff\xff\xff\xff\xff\x00\x00\x00' | dd of="$T/hugeheader/$SH1" bs=1 seek=0 conv=notrunc status=none
mkmodel badheader "$M"; own badheader $SH1; printf '{{' | dd of="$T/badheader/$SH1" bs=1 seek=8 conv=notrunc status=none
mkmodel missingshard "$M"; rm "$T/missingshard/$SH1"
mkmodel idxjson "$M"; rm "$T/idxjson/model.safetensors.index.json"; echo '{"weight_map": {' > "$T/idxjson/model.safetensors.index.json"
mkmodel idxmap "$M"; own idxmap model.safetensors.index.json; jedit "$T/idxmap/model.safetensors.index.json" 'd["weight_map"]=["a"]'
mkmodel idxescape "$M"; own idxescape model.safetensors.index.json; jedit "$T/idxescape/model.safetensors.index.json" 'd["weight_map"]["lm_head.weight"]="../'$SH1'"'
mkmodel idxwrong "$M"; own idxwrong model.safetensors.index.json; jedit "$T/idxwrong/model.safetensors.index.json" 'd["weight_map"]["lm_head.weight"]="model-00002-of-00010.safetensors"'
mkmodel idxghost "$M"; own idxghost model.safetensors.index.json; jedit "$T/idxghost/model.safetensors.index.json" 'd["weight_map"]["model.ghost.weight"]="'$SH1'"'
mkdir -p "$T/noweights"; cp "$M/config.json" "$M/tokenizer.json" "$T/noweights/"
mkdir -p "$T/emptysingle"; cp "$M/config.json" "$M/tokenizer.json" "$T/emptysingle/"; : > "$T/emptysingle/model.safetensors"
mkmodel notok "$M"; rm "$T/notok/tokenizer.json"
mkmodel tokjson "$M"; rm "$T/tokjson/tokenizer.json"; printf '{"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0,}}}' > "$T/tokjson/tokenizer.json"
mkmodel tokmodel "$M"; own tokmodel tokenizer.json; jedit "$T/tokmodel/tokenizer.json" 'd["model"]["type"]="WordPiece"'
mkmodel toktrunc "$M"; own toktrunc tokenizer.json; jedit "$T/toktrunc/tokenizer.json" 'd["truncation"]={"max_length": 8}'

# relation files
printf '' > "$T/rel_empty.json"
printf '{"name": "x", "prompt_templates_zs": ["{} is"], "samples": []}' > "$T/rel_nosamples.json"
printf '{"name": "x", "prompt_templates_zs": ["{} is"]}' > "$T/rel_nosamplekey.json"
printf '{"name": "x",\n "prompt_templates_zs": ["{} is"],\n "samples": [{"subject": "a" "object": "b"}]}' > "$T/rel_badjson.json"
printf '{"name": "x", "prompt_templates_zs": ["no slot here"], "samples": [{"subject": "a", "object": "b"}]}' > "$T/rel_noslot.json"
printf '{"name": "x", "prompt_templates_zs": ["{} is"], "samples": [{"subject": 7, "object": "b"}]}' > "$T/rel_subjtype.json"
printf '["not", "an", "object"]' > "$T/rel_list.json"
/usr/bin/python3 -c "
import json; json.dump({'name': 'long', 'prompt_templates_zs': ['{} is'],
 'samples': [{'subject': 'word ' * 700, 'object': 'x'}]}, open('$T/rel_long.json', 'w'))"
mkdir -p "$T/reldir_empty"; echo "not json" > "$T/reldir_empty/README"
printf '{"name": "x", "prompt_templates_zs": ["{} is"], "samples": [{"subject": "caf\xc3", "object": "b"}]}' > "$T/rel_badutf8.json"

# YAML configs
base() {  # FILE, extra lines...: a valid small run config plus the extra lines
  local f=$1; shift
  { echo "model: $M"; echo "relations: [$L/country_capital_city.json]"; echo "out: $T/out"
    echo "max_samples: 4"; for l in "$@"; do echo "$l"; done; } > "$f"
}
only() {  # FILE, lines...: exactly these lines
  local f=$1; shift; printf '%s\n' "$@" > "$f"
}
only "$T/y_syntax.yaml" "model: $M" "relations: [$L/adj_antonym.json" "out: $T/out"
base "$T/y_valid.yaml"
base "$T/y_unknown.yaml" "batch_sise: 4"
base "$T/y_type.yaml" "batch_size: lots"
base "$T/y_range.yaml" "batch_size: -3"
base "$T/y_stage.yaml" "stages: [capture, evalute]"
base "$T/y_fraction.yaml" "summarise:" "  stages: {early: 0.5, mid: 0.3, late: 0.5}"
base "$T/y_template.yaml" "template: 40"
base "$T/y_dup.yaml" "batch_size: 4" "batch_size: 8"
only "$T/y_nomodel.yaml" "relations: [$L/adj_antonym.json]" "out: $T/out"
only "$T/y_modelmissing.yaml" "model: $T/no-such-model" "relations: [$L/adj_antonym.json]" "out: $T/out"
only "$T/y_noconfig.yaml" "model: $T/noconfig" "relations: [$L/adj_antonym.json]" "out: $T/out"
only "$T/y_modelmap.yaml" "model: {path: $M}" "relations: [$L/adj_antonym.json]" "out: $T/out"
only "$T/y_relsempty.yaml" "model: $M" "relations: []" "out: $T/out"
only "$T/y_relunknown.yaml" "model: $M" "relations: [country_capitol_city]" "relations_dir: $L" "out: $T/out"
only "$T/y_relnosamples.yaml" "model: $M" "relations: [$T/rel_nosamples.json]" "out: $T/out"
only "$T/y_reldirempty.yaml" "model: $M" "relations: $T/reldir_empty" "out: $T/out"
only "$T/y_reldirmissing.yaml" "model: $M" "relations: [$L/adj_antonym.json]" "relations_dir: $T/nope" "out: $T/out"
printf 'model: %s\nrelations: [%s/adj_antonym.json]\nout: %s/out\nname: caf\xc3\x28\n' "$M" "$L" "$T" > "$T/y_badutf8.yaml"
printf 'model: %s\n\x00\x01\x02 binary\n' "$M" > "$T/y_binary.yaml"
: > "$T/y_empty.yaml"
mkdir -p "$T/y_dir.yaml"
only "$T/y_both.yaml" "model: $M" "models: [$M]" "relations: [$L/adj_antonym.json]" "out: $T/out"
# configs that validate but fail when run
touch "$T/outfile"
only "$T/y_outfile.yaml" "model: $M" "relations: [$L/country_capital_city.json]" "out: $T/outfile/sub" "max_samples: 2"
only "$T/y_runlong.yaml" "model: $M" "relations: [$T/rel_long.json]" "out: $T/out-long"
only "$T/y_runbadutf8.yaml" "model: $M" "relations: [$T/rel_badutf8.json]" "out: $T/out-utf8"
only "$T/y_runtrunc.yaml" "model: $T/truncshard" "relations: [$L/country_capital_city.json]" "out: $T/out-trunc" "max_samples: 2"
only "$T/y_rungpt2.yaml" "model: $T/gpt2" "relations: [$L/country_capital_city.json]" "out: $T/out-gpt2"

# names that become file names (#13 point 4): the run's `name`, a model file's `name`, a model
# folder's name, a relation file's name (its id)
base "$T/y_name_up.yaml" 'name: "../../x"'
base "$T/y_name_slash.yaml" 'name: a/b'
base "$T/y_name_empty.yaml" 'name: ""'
base "$T/y_name_newline.yaml" 'name: "a\nb"'
base "$T/y_name_hidden.yaml" 'name: .hidden'
base "$T/y_name_tab.yaml" 'name: "a\tb"'
base "$T/y_name_backslash.yaml" 'name: "a\\b"'
base "$T/y_name_long.yaml" "name: $(printf 'n%.0s' $(seq 1 201))"
printf 'name: sub/model\npath: %s\n' "$M" > "$T/modelfile_slash.yaml"
only "$T/y_modelfile_slash.yaml" "models: [$T/modelfile_slash.yaml]" "relations: [$L/adj_antonym.json]" "out: $T/out"
printf 'name: ""\npath: %s\n' "$M" > "$T/modelfile_empty.yaml"
only "$T/y_modelfile_empty.yaml" "models: [$T/modelfile_empty.yaml]" "relations: [$L/adj_antonym.json]" "out: $T/out"
ln -sfn "$M" "$T/.hidden-model"
only "$T/y_folder_hidden.yaml" "model: $T/.hidden-model" "relations: [$L/adj_antonym.json]" "out: $T/out"
mkdir -p "$T/relnames"
cp "$L/adj_antonym.json" "$T/relnames/pooled.json"; cp "$L/adj_antonym.json" "$T/relnames/cross.json"
cp "$L/adj_antonym.json" "$T/relnames/.json"; cp "$L/adj_antonym.json" "$T/relnames/"$'bad\nname.json'
only "$T/y_rel_pooled.yaml" "model: $M" "relations: [$T/relnames/pooled.json]" "out: $T/out"
only "$T/y_rel_cross.yaml" "model: $M" "relations: [$T/relnames/cross.json]" "out: $T/out"
only "$T/y_rel_dotjson.yaml" "model: $M" "relations: [$T/relnames/.json]" "out: $T/out"
printf 'model: %s\nrelations: ["%s/relnames/bad\\nname.json"]\nout: %s/out\n' "$M" "$T" "$T" > "$T/y_rel_newline.yaml"

# more run-config values, relation files, objects (#13 point 7) and model limits (point 8)
only "$T/y_maxsamples.yaml" "model: $M" "relations: [$L/adj_antonym.json]" "out: $T/out" "max_samples: -1"
base "$T/y_template_word.yaml" "template: everything"
base "$T/y_deflate.yaml" "archive: {deflate: 10}"
base "$T/y_placement.yaml" "expert_placement: diagonal"
base "$T/y_progress.yaml" "progress_every_s: -5"
base "$T/y_snapshot.yaml" "snapshot_every_s: soon"
base "$T/y_format.yaml" "report: {format: pdf}"
relcase() {  # NAME JSON: a relation file and a run config naming it
  printf '%s' "$2" > "$T/rc_$1.json"
  only "$T/y_rc_$1.yaml" "model: $M" "relations: [$T/rc_$1.json]" "out: $T/out"
}
relcase tmpl_type '{"name": "x", "prompt_templates_zs": [7], "samples": [{"subject": "a", "object": "b"}]}'
relcase noname '{"prompt_templates_zs": ["{} is"], "samples": [{"subject": "a", "object": "b"}]}'
relcase name_type '{"name": 5, "prompt_templates_zs": ["{} is"], "samples": [{"subject": "a", "object": "b"}]}'
relcase tmpl_str '{"name": "x", "prompt_templates_zs": "{} is", "samples": [{"subject": "a", "object": "b"}]}'
relcase samples_obj '{"name": "x", "prompt_templates_zs": ["{} is"], "samples": {"subject": "a"}}'
relcase nosubject '{"name": "x", "prompt_templates_zs": ["{} is"], "samples": [{"object": "b"}]}'
relcase sample_str '{"name": "x", "prompt_templates_zs": ["{} is"], "samples": ["a"]}'
relcase obj_space '{"name": "x", "prompt_templates_zs": ["{} is"], "samples": [{"subject": "a", "object": "b"}, {"subject": "c", "object": " Paris"}]}'
relcase obj_empty '{"name": "x", "prompt_templates_zs": ["{} is"], "samples": [{"subject": "a", "object": ""}]}'
relcase tmpl_empty '{"name": "x", "prompt_templates_zs": [], "samples": [{"subject": "a", "object": "b"}]}'
relcase obj_tab '{"name": "x", "prompt_templates_zs": ["{} is"], "samples": [{"subject": "a", "object": "\tb"}]}'
mkmodel cfgexperts "$M"; own cfgexperts config.json; jedit "$T/cfgexperts/config.json" 'd["num_experts"]=70000'
mkmodel cfgtopk "$M"; own cfgtopk config.json; jedit "$T/cfgtopk/config.json" 'd["num_experts_per_tok"]=70000'
mkmodel cfgheads "$M"; own cfgheads config.json; jedit "$T/cfgheads/config.json" 'd["num_attention_heads"]=70000'

# trace --out at something that is not a regular file (#13 point 5)
mkfifo "$T/out_fifo"; mkdir -p "$T/out_dir"; ln -sfn "$T/outfile" "$T/out_link"

# tokenize --stdin-jsonl input
printf '"fine"\n{"not": "a string"}\n' > "$T/jsonl_obj.txt"
printf '"fine"\n"unterminated\n' > "$T/jsonl_bad.txt"

LONG=$(/usr/bin/python3 -c "print('word ' * 700)")
BADUTF8=$'caf\xc3\x28 au lait'

# ---- the cases -------------------------------------------------------------------------------
# Each: NAME, MAXLINES, PATTERN (grep -E on stderr), then the command (B = the binary).
CASES=()
c() { CASES+=("$(printf '%q ' "$@")"); }
TR=(trace --prompt "The capital of Canada is" --out "$T/t.h5")
# command line
c unknown_command 1 "unknown command 'frobnicate'" B frobnicate
c no_command 13 "usage: moeprobe COMMAND" B  # the usage: one line per command (11), header and usage lines
c run_unknown_option 1 "unexpected argument --bogus" B run --bogus "$T/y_unknown.yaml"
c run_no_config 1 "CONFIG.yaml is required" B run
c run_unknown_unit 1 "--unit capture/country_capitol_city: no such unit in the plan of .*y_valid\.yaml; did you mean 'capture/country_capital_city'" B run "$T/y_valid.yaml" --unit capture/country_capitol_city
c trace_unknown_option 2 "promt|unrecognized|unknown" B trace --model "$M" --promt "x" --out "$T/t.h5"
c trace_option_no_value 1 "missing value: --model" B trace --prompt "x" --out "$T/t.h5" --model
c tokenize_unknown_option 2 "--bogus" B tokenize --tokenizer "$M/tokenizer.json" --bogus "x"
c inspect_missing_model 1 "$T/nope" B inspect --model "$T/nope"
# interventions out of range
c block_layer_99 1 "--block 99:3: layer 99 .*expected 0\.\.5" B "${TR[@]}" --model "$M" --block 99:3
c block_expert_99 1 "--block 0:99: expert 99 .*expected 0\.\.15" B "${TR[@]}" --model "$M" --block 0:99
c block_not_pair 1 "--block \"3\": expected LAYER:INDEX" B "${TR[@]}" --model "$M" --block 3
c block_negative 1 "--block \"-1:2\": expected LAYER:INDEX" B "${TR[@]}" --model "$M" --block -1:2
c suppress_head_0_99 1 "--suppress-head 0:99: expected layer 0\.\.5 and head 0\.\.3" B "${TR[@]}" --model "$M" --suppress-head 0:99
c suppress_head_99_0 1 "--suppress-head 99:0: expected layer 0\.\.5" B "${TR[@]}" --model "$M" --suppress-head 99:0
c force_expert_0_99 1 "--force-expert 0:99: expected an MoE layer 0\.\.5 and expert 0\.\.15" B "${TR[@]}" --model "$M" --force-expert 0:99
c topk_too_many 1 "--topk 99: the model routes 4 experts" B "${TR[@]}" --model "$M" --topk 99
c topk_not_int 1 "--topk: \"four\" is not an integer" B "${TR[@]}" --model "$M" --topk four
c keep_rank_99 1 "keep_rank 99: expected 1\.\.4" B "${TR[@]}" --model "$M" --keep-rank 99
c block_mode_bad 1 "--block-mode \"soft\": expected router_logit or zero_output" B "${TR[@]}" --model "$M" --block-mode soft
c block_on_dense 1 "expert interventions need an MoE model; LlamaForCausalLM is dense" B "${TR[@]}" --model "$R/models/tiny-llama" --block 0:1
c no_shared_on_olmoe 1 "--no-shared: OlmoeForCausalLM has no shared expert" B "${TR[@]}" --model "$R/models/tiny-olmoe" --no-shared
c trace_out_fifo 1 "--out $T/out_fifo: exists and is a FIFO" B trace --model "$M" --prompt x --out "$T/out_fifo"
c trace_out_folder 1 "--out $T/out_dir: exists and is a folder" B trace --model "$M" --prompt x --out "$T/out_dir"
c trace_out_symlink 1 "--out $T/out_link: exists and is a symbolic link" B trace --model "$M" --prompt x --out "$T/out_link"
# prompts
c prompt_too_long 1 "prompt 0 has 70[0-9] tokens, more than max_position_embeddings = 512" B trace --model "$M" --prompt "$LONG" --out "$T/t.h5"
c prompt_invalid_utf8 1 "prompt 0: text is not valid UTF-8: .*byte offset 3" B trace --model "$M" --prompt "$BADUTF8" --out "$T/t.h5"
c prompt_empty 1 "prompt 0 \(\"\"\) encodes to no tokens" B trace --model "$M" --prompt "" --out "$T/t.h5"
c objects_mismatch 1 "2 --object for 1 --prompt" B trace --model "$M" --prompt "x" --object a --object b --out "$T/t.h5"
c tokenize_invalid_utf8 1 "TEXT 1: text is not valid UTF-8: .*byte offset 3 \(byte 0xC3\)" B tokenize --tokenizer "$M/tokenizer.json" "$BADUTF8"
c jsonl_not_string 1 "line 2" B tokenize --tokenizer "$M/tokenizer.json" --stdin-jsonl "<$T/jsonl_obj.txt"
c jsonl_bad_json 1 "line 2" B tokenize --tokenizer "$M/tokenizer.json" --stdin-jsonl "<$T/jsonl_bad.txt"
# more command lines
c status_no_dir 1 "status: an OUT_DIR is required" B status
c status_not_an_out 1 "status: $T/reldir_empty/manifest\.json: no manifest here" B status "$T/reldir_empty"
c report_no_archive 1 "report: no archive given" B report
c report_no_out 1 "report: --out DIR is required" B report "$T/no.h5"
c report_out_no_value 1 "report: --out needs a value" B report "$T/no.h5" --out
c tokenize_no_text 1 "tokenize: no TEXT given" B tokenize --tokenizer "$M/tokenizer.json"
c tokenize_missing_file 1 "cannot open tokenizer file $T/nope\.json" B tokenize --tokenizer "$T/nope.json" x
c inspect_no_model 1 "inspect: --model DIR is required" B inspect
c inspect_unknown_option 1 "inspect: unknown option '--bogus'" B inspect --model "$M" --bogus
c make_model_no_args 1 "make-model: --config FILE and --out DIR are required" B make-model
c plan_no_config 1 "plan: a CONFIG\.yaml is required" B plan
c plan_unknown_option 1 "plan: unexpected argument --bogus" B plan "$T/y_valid.yaml" --bogus
c config_unknown_option 8 "usage: moeprobe config" B config --bogus
c config_check_missing_file 2 "$T/nope\.yaml: cannot open config: No such file" B config --check "$T/nope.yaml"
c run_two_configs 1 "run: unexpected argument .*y_valid\.yaml" B run "$T/y_valid.yaml" "$T/y_valid.yaml"
c run_array_index_negative 1 "--array-index -1: expected a whole number >= 0" B run "$T/y_valid.yaml" --array-index -1
c run_array_index_beyond 1 "--array-index 999 is beyond the plan's 2 groups" B run "$T/y_valid.yaml" --array-index 999
c run_stage_unknown 1 "--stage bogus: no such stage" B run "$T/y_valid.yaml" --stage bogus
c run_stage_unknown_list 1 "--stage bogus: no such stage \\(expected one of: capture, evaluate, attribute, summarise, ([a-z_]+, )*report\\)$" B run "$T/y_valid.yaml" --stage bogus
c trace_batch_size_0 1 "--batch-size: \"0\" is not an integer in 1\.\.1048576" B "${TR[@]}" --model "$M" --batch-size 0
c trace_placement_bad 1 "--placement \"diagonal\": expected contiguous or round_robin" B "${TR[@]}" --model "$M" --placement diagonal
c trace_object_leading_space 1 "object 0 \(\" Paris\"\) starts with whitespace" B trace --model "$M" --prompt "The capital of France is" --object " Paris" --out "$T/t.h5"
c trace_object_empty 1 "object 0 \(\"\"\) is empty" B trace --model "$M" --prompt "The capital of France is" --object "" --out "$T/t.h5"
# model folders
c config_experts_beyond_limit 1 "\"num_experts\" = 70000, expected .*at most 65536" B inspect --model "$T/cfgexperts"
c config_topk_beyond_limit 1 "\"num_experts_per_tok\" = 70000, expected at most 65536" B inspect --model "$T/cfgtopk"
c config_heads_beyond_limit 1 "\"num_attention_heads\" = 70000, expected at most 65536" B inspect --model "$T/cfgheads"
c model_without_config 1 "$T/noconfig.*config\.json" B inspect --model "$T/noconfig"
c config_unsupported_arch 1 "GPT2LMHeadModel.*(not supported|unsupported|expected)" B inspect --model "$T/gpt2"
c config_bad_json 1 "$T/cfgjson/config\.json.*(line|column)" B inspect --model "$T/cfgjson"
c config_wrong_type 1 "num_hidden_layers.*\"six\"" B inspect --model "$T/cfgtype"
c config_out_of_range 1 "num_experts_per_tok.*40" B inspect --model "$T/cfgrange"
c config_rope_scaling 1 "rope_scaling" B inspect --model "$T/cfgrope"
c config_activation 1 "hidden_act.*gelu" B inspect --model "$T/cfgact"
c config_layers_vs_weights 1 "model\.layers\.6\." B inspect --model "$T/cfglayers"
c config_width_vs_weights 1 "shape.*(128|96)" B inspect --model "$T/cfgwidth"
c shard_truncated 1 "$SH1.*(beyond|end|bytes)" B inspect --model "$T/truncshard"
c shard_truncated_in_header 1 "$SH1: header length .*beyond the end of the file" B inspect --model "$T/truncheader"
c shard_5_bytes 1 "$SH1: file is 5 bytes, expected at least 8" B inspect --model "$T/tinyshard"
c shard_huge_header_length 1 "$SH1: header length [0-9]+ .*exceeds the limit" B inspect --model "$T/hugeheader"
c shard_header_not_json 1 "$SH1: header .*is not valid JSON.*file offset" B inspect --model "$T/badheader"
c index_names_missing_shard 1 "shard \"$SH1\" named in \"weight_map\" does not exist" B inspect --model "$T/missingshard"
c index_bad_json 1 "model\.safetensors\.index\.json: not valid JSON.*line" B inspect --model "$T/idxjson"
c index_weight_map_list 1 "\"weight_map\" is \[\"a\"\], expected an object" B inspect --model "$T/idxmap"
c index_shard_escape 1 "\"\.\./$SH1\", expected a plain file name" B inspect --model "$T/idxescape"
c index_wrong_shard 1 "lm_head\.weight\" is mapped to model-00002-of-00010\.safetensors, which does not contain it" B inspect --model "$T/idxwrong"
c index_ghost_tensor 1 "model\.ghost\.weight\" is mapped to $SH1, which does not contain it" B inspect --model "$T/idxghost"
c folder_without_weights 1 "$T/noweights.*(model\.safetensors|weights|safetensors)" B inspect --model "$T/noweights"
c single_file_empty 1 "model\.safetensors: file is 0 bytes" B inspect --model "$T/emptysingle"
c tokenizer_missing 1 "$T/notok/tokenizer\.json" B trace --model "$T/notok" --prompt "x" --out "$T/t.h5"
c tokenizer_bad_json 1 "tokenizer\.json: not valid JSON \(line 1, column [0-9]+" B tokenize --tokenizer "$T/tokjson/tokenizer.json" "x"
c tokenizer_wordpiece 1 "WordPiece" B tokenize --tokenizer "$T/tokmodel/tokenizer.json" "x"
c tokenizer_truncation 1 "\"truncation\" is set" B tokenize --tokenizer "$T/toktrunc/tokenizer.json" "x"
c tokenizer_dir_without_file 1 "reldir_empty/+tokenizer\.json: No such file" B tokenize --tokenizer "$T/reldir_empty" "x"
# YAML configs
c yaml_missing_file 2 "$T/nope\.yaml" B run "$T/nope.yaml"
c yaml_is_dir 2 "y_dir\.yaml" B run "$T/y_dir.yaml"
c yaml_syntax 2 "y_syntax\.yaml:[0-9]+:[0-9]+:" B run "$T/y_syntax.yaml"
c yaml_unknown_key 2 "y_unknown\.yaml:5:1: .*batch_sise.*did you mean 'batch_size'" B run "$T/y_unknown.yaml"
c yaml_wrong_type 2 "y_type\.yaml:5:13: .*batch_size.*lots" B run "$T/y_type.yaml"
c yaml_out_of_range 2 "y_range\.yaml:5:13: .*batch_size.*-3" B run "$T/y_range.yaml"
c yaml_unknown_stage 2 "y_stage\.yaml:5:.*evalute.*did you mean 'evaluate'" B run "$T/y_stage.yaml"
c yaml_fractions 2 "y_fraction\.yaml:[0-9]+:[0-9]+: .*(sum|1)" B run "$T/y_fraction.yaml"
c yaml_template_index 2 "y_template\.yaml:[0-9]+:[0-9]+: .*template" B run "$T/y_template.yaml"
c yaml_duplicate_key 2 "y_dup\.yaml:6:1: duplicate key 'batch_size'" B run "$T/y_dup.yaml"
c yaml_no_model 2 "y_nomodel\.yaml:1:1: missing required key 'model'" B run "$T/y_nomodel.yaml"
c yaml_model_missing 2 "y_modelmissing\.yaml:1:8: model folder \"$T/no-such-model\" does not exist" B run "$T/y_modelmissing.yaml"
c yaml_model_no_config 2 "y_noconfig\.yaml:1:8: model folder \"$T/noconfig\" has no config\.json" B run "$T/y_noconfig.yaml"
c yaml_model_mapping 2 "y_modelmap\.yaml:1:8: 'model' is a section" B run "$T/y_modelmap.yaml"
c yaml_relations_empty 2 "y_relsempty\.yaml:2:12: 'relations' is an empty list" B run "$T/y_relsempty.yaml"
c yaml_relation_unknown 2 "unknown relation 'country_capitol_city'.*did you mean 'country_capital_city'" B run "$T/y_relunknown.yaml"
c yaml_relation_no_samples 2 "rel_nosamples\.json: 'samples' is empty" B run "$T/y_relnosamples.yaml"
c yaml_relations_dir_missing 2 "y_reldirmissing\.yaml:3:[0-9]+: 'relations_dir' is \"$T/nope\", which does not exist \(expected a folder of LRE \.json files" B run "$T/y_reldirmissing.yaml"
c yaml_relations_dir_no_json 2 "relations folder \"$T/reldir_empty\" has no \.json files" B run "$T/y_reldirempty.yaml"
c yaml_invalid_utf8 2 "y_badutf8\.yaml:4:[0-9]+: invalid trailing UTF-8 octet at byte offset [0-9]+ \(byte 0x28" B run "$T/y_badutf8.yaml"
c yaml_binary 2 "y_binary\.yaml:2:1: control characters are not allowed at byte offset [0-9]+ \(byte 0x00" B run "$T/y_binary.yaml"
c yaml_empty 2 "y_empty\.yaml:1:1: empty run config" B run "$T/y_empty.yaml"
c yaml_model_and_models 2 "y_both\.yaml:2:[0-9]+: both 'model' and 'models'" B run "$T/y_both.yaml"
c name_path_up 2 "y_name_up\.yaml:5:7: 'name' \"\.\./\.\./x\" starts with '\.'" B run "$T/y_name_up.yaml"
c name_with_slash 2 "y_name_slash\.yaml:5:7: 'name' \"a/b\" contains '/' at byte 1" B run "$T/y_name_slash.yaml"
c name_empty 2 "y_name_empty\.yaml:5:7: 'name' \"\" is empty" B run "$T/y_name_empty.yaml"
c name_newline 2 "y_name_newline\.yaml:5:7: 'name' .*control character \(byte 0x0A at byte 1\)" B run "$T/y_name_newline.yaml"
c name_hidden 2 "y_name_hidden\.yaml:5:7: 'name' \"\.hidden\" starts with '\.'" B run "$T/y_name_hidden.yaml"
c name_tab 2 "y_name_tab\.yaml:5:7: 'name' .*control character \(byte 0x09 at byte 1\)" B run "$T/y_name_tab.yaml"
c name_backslash 2 "y_name_backslash\.yaml:5:7: 'name' .*contains '\\\\' at byte 1" B run "$T/y_name_backslash.yaml"
c name_too_long 2 "y_name_long\.yaml:5:7: 'name' .* is 201 bytes long, more than 200" B run "$T/y_name_long.yaml"
c config_check_name_slash 2 "y_name_slash\.yaml:5:7: 'name' \"a/b\" contains '/'" B config --check "$T/y_name_slash.yaml"
c plan_name_up 2 "y_name_up\.yaml:5:7: 'name'" B plan "$T/y_name_up.yaml"
c model_file_name_slash 2 "modelfile_slash\.yaml:1:7: 'name' \"sub/model\" contains '/'" B run "$T/y_modelfile_slash.yaml"
c model_file_name_empty 2 "modelfile_empty\.yaml:1:7: 'name' \"\" is empty" B run "$T/y_modelfile_empty.yaml"
c model_folder_hidden 2 "y_folder_hidden\.yaml:1:8: the model folder's name .*\"\.hidden-model\" starts with '\.'" B run "$T/y_folder_hidden.yaml"
c relation_named_pooled 2 "y_rel_pooled\.yaml:2:1[23]: relation file .*pooled\.json\": the id 'pooled' is reserved" B run "$T/y_rel_pooled.yaml"
c relation_named_cross 2 "y_rel_cross\.yaml:2:1[23]: relation file .*cross\.json\": the id 'cross' is reserved" B run "$T/y_rel_cross.yaml"
c relation_named_dotjson 2 "y_rel_dotjson\.yaml:2:1[23]: relation file .*: its id \"\" is empty" B run "$T/y_rel_dotjson.yaml"
c relation_name_newline 2 "y_rel_newline\.yaml:2:1[23]: relation file .*control character \(byte 0x0A" B run "$T/y_rel_newline.yaml"
c config_check_unknown_key 2 "y_unknown\.yaml:5:1: .*batch_sise" B config --check "$T/y_unknown.yaml"
c plan_bad_config 2 "y_stage\.yaml:5:" B plan "$T/y_stage.yaml"
c yaml_max_samples_negative 2 "y_maxsamples\.yaml:4:14: 'max_samples' is -1, out of range" B run "$T/y_maxsamples.yaml"
c yaml_template_word 2 "y_template_word\.yaml:5:11: 'template' is \"everything\"" B run "$T/y_template_word.yaml"
c yaml_deflate_range 2 "y_deflate\.yaml:5:20: 'archive\.deflate' is 10, out of range" B run "$T/y_deflate.yaml"
c yaml_placement_value 2 "y_placement\.yaml:5:19: 'expert_placement' has the value \"diagonal\"" B run "$T/y_placement.yaml"
c yaml_progress_negative 2 "y_progress\.yaml:5:19: 'progress_every_s' is -5, out of range" B run "$T/y_progress.yaml"
c yaml_snapshot_word 2 "y_snapshot\.yaml:5:19: 'snapshot_every_s' is \"soon\"" B run "$T/y_snapshot.yaml"
c yaml_report_format 2 "y_format\.yaml:5:18: 'report\.format' has the value \"pdf\"" B run "$T/y_format.yaml"
c relation_template_not_string 2 "rc_tmpl_type\.json: prompt_templates_zs\[0\] is not a string" B run "$T/y_rc_tmpl_type.yaml"
c relation_name_missing 2 "rc_noname\.json: 'name' is missing" B run "$T/y_rc_noname.yaml"
c relation_name_not_string 2 "rc_name_type\.json: 'name' is not a string" B run "$T/y_rc_name_type.yaml"
c relation_templates_empty 2 "rc_tmpl_empty\.json: 'prompt_templates_zs' is an empty list \(expected at least one template string with a \{\} placeholder" B run "$T/y_rc_tmpl_empty.yaml"
c relation_templates_not_list 2 "rc_tmpl_str\.json: 'prompt_templates_zs' is not a list" B run "$T/y_rc_tmpl_str.yaml"
c relation_samples_not_list 2 "rc_samples_obj\.json: 'samples' is not a list" B run "$T/y_rc_samples_obj.yaml"
c relation_subject_missing 2 "rc_nosubject\.json: samples\[0\]\.subject is missing" B run "$T/y_rc_nosubject.yaml"
c relation_sample_not_object 2 "rc_sample_str\.json: samples\[0\] is not an object" B run "$T/y_rc_sample_str.yaml"
c relation_object_leading_space 2 "rc_obj_space\.json: samples\[1\]\.object starts with whitespace" B run "$T/y_rc_obj_space.yaml"
c relation_object_empty 2 "rc_obj_empty\.json: samples\[0\]\.object is empty" B run "$T/y_rc_obj_empty.yaml"
c relation_object_leading_tab 2 "rc_obj_tab\.json: samples\[0\]\.object starts with whitespace" B run "$T/y_rc_obj_tab.yaml"
# relation files (through the run config, which loads every relation before any work)
for r in empty badjson noslot subjtype list nosamplekey; do
  only "$T/y_rel_$r.yaml" "model: $M" "relations: [$T/rel_$r.json]" "out: $T/out"
done
c relation_empty_file 2 "rel_empty\.json" B run "$T/y_rel_empty.yaml"
c relation_bad_json 2 "rel_badjson\.json:3:[0-9]+: bad JSON" B run "$T/y_rel_badjson.yaml"
c relation_template_without_slot 2 "rel_noslot\.json.*\{\}" B run "$T/y_rel_noslot.yaml"
c relation_subject_not_string 2 "rel_subjtype\.json: samples\[0\]\.subject is not a string" B run "$T/y_rel_subjtype.yaml"
c relation_not_object 2 "rel_list\.json: top level is not an object" B run "$T/y_rel_list.yaml"
c relation_no_samples_key 2 "rel_nosamplekey\.json: missing key 'samples'" B run "$T/y_rel_nosamplekey.yaml"
# run-time failures of configs that validate
c run_out_under_a_file 2 "$T/outfile" B run "$T/y_outfile.yaml"
c run_prompt_too_long 2 "rel_long.*(sample 0|prompt).*max_position_embeddings = 512" B run "$T/y_runlong.yaml"
c relation_invalid_utf8 2 "rel_badutf8\.json:1:76: bad JSON: unable to decode byte 0xc3" B run "$T/y_runbadutf8.yaml"
c run_truncated_shard 2 "$SH1" B run "$T/y_runtrunc.yaml"
c run_unsupported_arch 2 "GPT2LMHeadModel" B run "$T/y_rungpt2.yaml"
c status_missing_out 1 "$T/no-out" B status "$T/no-out"
c report_missing_archive 1 "$T/no\.h5" B report "$T/no.h5" --out "$T/rep"
c make_model_bad_config 1 "$T/cfgtype/config\.json.*num_hidden_layers" B make-model --config "$T/cfgtype/config.json" --out "$T/mm"

run_one() {  # BIN LABEL INDEX: runs case INDEX, leaves .out .err .rc files
  local bin=$1 label=$2 cs=${CASES[$3]}
  eval "set -- $cs"
  local name=$1; shift 4
  local args=() redir=/dev/null
  for a in "$@"; do
    if [[ "$a" == "<"* ]]; then redir=${a#<}; else args+=("$a"); fi
  done
  # a TMPDIR per case: Open MPI's singleton session directories under a shared /tmp race when
  # four start and end at once (one removing the parent another is creating)
  mkdir -p "$T/tmp.$label.$name"
  (cd "$T" && TMPDIR="$T/tmp.$label.$name" timeout 120 "$bin" "${args[@]}" <"$redir" \
     >"$T/$label.$name.out" 2>"$T/$label.$name.err")
  echo $? >"$T/$label.$name.rc"
}

run_suite() {  # BIN LABEL [ONE-CHECK]: four cases at a time, then the verdicts in order; with
  # ONE-CHECK (the sanitizer rerun) a single PASS line ONE-CHECK for the whole suite
  local bin=$T/$2.moeprobe label=$2 one=${3:-} n=0 ok=0 i
  cp "$1" "$bin"  # a private copy: a concurrent `make` relinking bin/ must not fail a case
  for i in "${!CASES[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge 4 ]; do wait -n; done
    run_one "$bin" "$label" "$i" &
  done
  wait
  for cs in "${CASES[@]}"; do
    eval "set -- $cs"
    local name=$1 maxl=$2 pat=$3
    n=$((n + 1))
    local err="$T/$label.$name.err" rc lines why=""
    rc=$(cat "$T/$label.$name.rc")
    lines=$(grep -c . "$err")
    if [ "$rc" -eq 0 ]; then why="exit 0"
    elif [ "$rc" -ge 124 ]; then why="exit $rc (signal, timeout or not run)"
    elif grep -qE "Sanitizer|runtime error:|MPI_ABORT|ORTE_ERROR|Segmentation|core dumped" "$err"; then
      why="sanitizer/abort output: $(grep -m1 -E 'Sanitizer|runtime error:|MPI_ABORT|ORTE_ERROR' "$err")"
    elif ! grep -qE -- "$pat" "$err"; then why="message does not match /$pat/"
    elif [ "$lines" -gt "$maxl" ]; then why="$lines stderr lines, expected at most $maxl"
    fi
    if [ -z "$why" ]; then
      ok=$((ok + 1))
      [ -z "$one" ] && echo "PASS bad_inputs/$label/$name (exit $rc: $(grep -m1 -E -- "$pat" "$err" | cut -c1-160))"
    else
      echo "FAIL bad_inputs/${one:-$label}/$name: $why; stderr: $(head -c 400 "$err" | tr '\n' '|')"
    fi
  done
  echo "INFO bad_inputs/$label: $ok of $n malformed inputs rejected cleanly"
  [ -n "$one" ] && [ "$ok" -eq "$n" ] && echo "PASS bad_inputs/$one ($n cases under $label, no sanitizer report)"
  # distinct case names: a copy-pasted case would count one input twice
  local dup; dup=$(for cs in "${CASES[@]}"; do eval "set -- $cs"; echo "$1"; done | sort | uniq -d | head -3 | tr '\n' ' ')
  [ -z "$one" ] && { [ -z "$dup" ] && echo "PASS bad_inputs/distinct_cases ($n)" || echo "FAIL bad_inputs/distinct_cases: repeated $dup"; }
  return 0
}

run_suite "$MOEPROBE_BIN" "$(basename "$(dirname "$MOEPROBE_BIN")")"

# The ASan/UBSan pass (skipped when this run already uses the debug binary).
DBG=$R/bin-debug/moeprobe
if [ "$(readlink -f "$MOEPROBE_BIN")" != "$(readlink -f "$DBG")" ]; then
  stale=""
  [ -x "$DBG" ] && stale=$(find "$R/pipeline" "$R/cli" "$R/stages" "$R/jobs" "$R/report" "$R/tools" -name '*.[ch]' -newer "$DBG" 2>/dev/null | head -1)
  if [ ! -x "$DBG" ] || [ -n "$stale" ]; then
    # only the binary (about 50 s from scratch on 2 cores, seconds when up to date)
    if ! (cd "$R" && timeout 900 make -s MODE=debug BUILD=build-debug BIN=bin-debug \
            -j"$(nproc)" bin-debug/moeprobe >"$T/make-debug.log" 2>&1); then
      echo "FAIL bad_inputs/asan_ubsan: make debug failed: $(grep -m1 error "$T/make-debug.log")"
      DBG=""
    fi
  fi
  if [ -n "$DBG" ] && [ -x "$DBG" ]; then
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_suite "$DBG" bin-debug asan_ubsan
  fi
fi
