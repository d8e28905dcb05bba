#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""generation_config.json checked against transformers 4.37's rules.

  gencfg_ref.py PTM MODEL_DIR OUTDIR

MODEL_DIR is the bundled models/gpt2-kjv (read only; its config.json and
model.safetensors are copied into fixture folders under OUTDIR).

Save: GenerationConfig's defaults, from_model_config, from_dict and
to_json_file(use_diff=True) are re-implemented here from transformers 4.37's
documented behaviour, and `ptm convert` of each fixture folder must write
generation_config.json byte for byte as computed here: (a) a file with
unknown keys (kept), default-valued keys (dropped) and transformers_version
(kept); a file with "_from_model_config": true (its unknown keys dropped, as
GenerationConfig.__init__ does); (b) no file: derived from config.json (the
GPT-2 bos/eos 50256 example, a sub-config); (c) eos_token_id as a list.  A
damaged file gives a warning naming it and the derived config (as transformers
falls back); a wrong eos_token_id is an error naming the file; a model that cannot generate gets none.

Generate: the greedy continuation the training script recorded with PyTorch
(expected_greedy.json) must stop where the generation config says --
eos_token_id (int or list, before config.json's), max_new_tokens,
max_length - prompt length -- and `ptm generate`'s options override it.
"""
import json
import os
import shutil
import subprocess
import sys

PTM, MODEL, OUT = sys.argv[1:4]
failures = 0


def check(ok, what):
    global failures
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures += 1


# transformers 4.37 GenerationConfig() attribute defaults (its __init__).
DEFAULTS = {
    "max_length": 20, "max_new_tokens": None, "min_length": 0, "min_new_tokens": None,
    "early_stopping": False, "max_time": None, "do_sample": False, "num_beams": 1, "num_beam_groups": 1,
    "penalty_alpha": None, "use_cache": True, "temperature": 1.0, "top_k": 50, "top_p": 1.0,
    "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "diversity_penalty": 0.0,
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "length_penalty": 1.0,
    "no_repeat_ngram_size": 0, "bad_words_ids": None, "force_words_ids": None, "renormalize_logits": False,
    "constraints": None, "forced_bos_token_id": None, "forced_eos_token_id": None,
    "remove_invalid_values": False, "exponential_decay_length_penalty": None, "suppress_tokens": None,
    "begin_suppress_tokens": None, "forced_decoder_ids": None, "sequence_bias": None, "guidance_scale": None,
    "low_memory": None, "num_return_sequences": 1, "output_attentions": False, "output_hidden_states": False,
    "output_scores": False, "return_dict_in_generate": False, "pad_token_id": None, "bos_token_id": None,
    "eos_token_id": None, "encoder_no_repeat_ngram_size": 0, "decoder_start_token_id": None,
    "num_assistant_tokens": 5, "num_assistant_tokens_schedule": "heuristic", "generation_kwargs": {},
    "_from_model_config": False,
}


def from_dict(d):
    """GenerationConfig(**d): known attributes, unknown ones only when
    _from_model_config is false; _commit_hash is never serialised."""
    attrs = dict(DEFAULTS)
    attrs["_from_model_config"] = d.get("_from_model_config", False)
    for k, v in d.items():
        if k in DEFAULTS or k == "transformers_version":
            attrs[k] = v
        elif k != "_commit_hash" and not attrs["_from_model_config"]:
            attrs[k] = v
    return attrs


def from_model_config(cfg):
    """GenerationConfig.from_model_config (ptm writes no transformers_version
    for a derived config, so it is left out)."""
    d = {k: v for k, v in cfg.items() if k not in ("_from_model_config", "transformers_version")}
    attrs = from_dict(dict(d, _from_model_config=True))
    for sub in ("decoder", "generator", "text_config"):
        if isinstance(cfg.get(sub), dict):
            for k in list(attrs):
                if k in cfg[sub] and k not in ("_from_model_config", "transformers_version") \
                        and attrs[k] == DEFAULTS[k]:
                    attrs[k] = cfg[sub][k]
    return attrs


def to_json_use_diff(attrs):
    diff = {k: v for k, v in attrs.items()
            if k not in DEFAULTS or k == "transformers_version" or v != DEFAULTS[k]}
    return json.dumps(diff, indent=2, sort_keys=True) + "\n"


def ptm(*args):
    p = subprocess.run([PTM] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


with open(os.path.join(MODEL, "config.json")) as fh:
    BASE_CFG = json.load(fh)


def fixture(name, cfg_changes=None, gen=None, gen_text=None):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cfg = dict(BASE_CFG)
    cfg.update(cfg_changes or {})
    with open(os.path.join(d, "config.json"), "w") as fh:
        fh.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    os.symlink(os.path.abspath(os.path.join(MODEL, "model.safetensors")), os.path.join(d, "model.safetensors"))
    if gen is not None:
        gen_text = json.dumps(gen, indent=2)  # key order and spacing need not be transformers'
    if gen_text is not None:
        with open(os.path.join(d, "generation_config.json"), "w") as fh:
            fh.write(gen_text)
    return d, cfg


def saved_gen(src, name, *extra):
    dst = os.path.join(OUT, name + ".saved")
    shutil.rmtree(dst, ignore_errors=True)
    rc, _, err = ptm("convert", src, dst, *extra)
    if rc != 0:
        return rc, err, None
    p = os.path.join(dst, "generation_config.json")
    return rc, err, open(p, "rb").read().decode() if os.path.exists(p) else None


def save_case(name, what, cfg_changes=None, gen=None, expect_text=None):
    src, cfg = fixture(name, cfg_changes, gen)
    attrs = from_dict(gen) if gen is not None else from_model_config(cfg)
    want = to_json_use_diff(attrs)
    if expect_text is not None:
        check(want == expect_text, "%s: the reference itself gives the documented example" % name)
    rc, err, got = saved_gen(src, name)
    check(rc == 0 and got == want, "%s: %s (rc %d, got %r, want %r, %s)" % (name, what, rc, got, want, err.strip()))
    # saving the saved folder again changes nothing
    if rc == 0:
        rc2, err2, got2 = saved_gen(os.path.join(OUT, name + ".saved"), name + ".again")
        check(rc2 == 0 and got2 == got, "%s: a second save is identical (%s)" % (name, err2.strip()))


os.makedirs(OUT, exist_ok=True)

# (a) a file with unknown keys, default-valued keys, transformers_version
save_case("a_file", "unknown keys kept, defaults dropped, transformers_version kept", gen={
    "transformers_version": "4.37.2", "do_sample": True, "temperature": 0.7, "top_k": 50, "num_beams": 1.0,
    "max_length": 64, "my_custom": {"nested": [1, 2.5, "x"], "flag": False}, "note": "caf\u00e9 \"q\"",
    "eos_token_id": 1, "bos_token_id": 1, "pad_token_id": None, "_commit_hash": "0123abcd", "use_cache": 1,
    "repetition_penalty": 1.3, "suppress_tokens": [], "generation_kwargs": {}})
save_case("a_from_model", "a _from_model_config file drops its unknown keys", gen={
    "_from_model_config": True, "bos_token_id": 1, "eos_token_id": 1, "my_custom": 3,
    "transformers_version": "4.37.0.dev0"})
# (b) derived from config.json
save_case("b_gpt2", "derived from a GPT-2 config.json (bos/eos 50256)",
          cfg_changes={"bos_token_id": 50256, "eos_token_id": 50256},
          expect_text='{\n  "_from_model_config": true,\n  "bos_token_id": 50256,\n  "eos_token_id": 50256\n}\n')
save_case("b_params", "derived: only non-default generation keys of config.json",
          cfg_changes={"max_length": 20, "temperature": 1, "do_sample": False, "top_p": 0.9, "pad_token_id": None,
                       "num_beams": 4, "no_repeat_ngram_size": 3, "transformers_version": "4.37.2",
                       "custom_model_key": 5})
save_case("b_sub", "derived: a text_config sub-config fills attributes left at their default",
          cfg_changes={"text_config": {"top_k": 10, "eos_token_id": 7, "max_length": 20}})
src, _ = fixture("b_bundled")
rc, err, got = saved_gen(src, "b_bundled")
check(rc == 0 and got == open(os.path.join(MODEL, "generation_config.json")).read(),
      "derived from the bundled config.json = the training script's generation_config.json (%s)" % err.strip())
# (c) eos as a list
save_case("c_list_file", "eos_token_id list in the file", gen={"eos_token_id": [1, 2], "max_new_tokens": 5})
save_case("c_list_derived", "eos_token_id list derived", cfg_changes={"eos_token_id": [1, 2]})

# a file that is not a JSON object: transformers' from_pretrained catches the
# error and goes on with the config-derived defaults; ptm does too, warning
# with the file's path
for name, text in (("d_bad_json", '{"eos_token_id": 1,'), ("d_not_object", "[1, 2]")):
    src, cfg = fixture(name, gen_text=text)
    rc, err, got = saved_gen(src, name)
    path = os.path.join(src, "generation_config.json")
    want = to_json_use_diff(from_model_config(cfg))
    check(rc == 0 and path in err and got == want,
          "%s: warns naming %s and uses the derived config (rc %d, got %r, %s)" % (name, path, rc, got, err.strip()))
# a wrong eos_token_id: an error naming the file, nothing written
for name, text in (("d_bad_eos", '{"eos_token_id": "x"}'), ("d_bad_eos_item", '{"eos_token_id": [1, 2.5]}')):
    src, _ = fixture(name, gen_text=text)
    rc, err, got = saved_gen(src, name)
    path = os.path.join(src, "generation_config.json")
    check(rc != 0 and path in err and got is None and not os.path.exists(os.path.join(OUT, name + ".saved",
                                                                                       "config.json")),
          "%s: load fails naming %s (rc %d, %s)" % (name, path, rc, err.strip()))
# a model that cannot generate has no generation config
src, _ = fixture("e_base")
rc, err, got = saved_gen(src, "e_base", "--class", "GPT2Model")
check(rc == 0 and got is None, "GPT2Model (cannot generate): no generation_config.json (%s)" % err.strip())
rc, out, _ = ptm("info", src, "--json", "--class", "GPT2Model")
check(rc == 0 and "generation_config" not in json.loads(out), "info --json of GPT2Model: no generation_config")
rc, out, _ = ptm("info", src, "--json")
j = json.loads(out) if rc == 0 else {}
check(j.get("generation_config") == {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 1}
      and j.get("generation_config_file") is None, "info --json shows the derived generation config: %s" % out)

# ---------------------------------------------------------------- generate
with open(os.path.join(MODEL, "expected_greedy.json")) as fh:
    EXP = json.load(fh)
PROMPT = EXP["prompt_ids"]
GREEDY = EXP["greedy_ids"]  # PyTorch's greedy continuation, 100 tokens, no eos (1) among them
assert 1 not in GREEDY


def until_eos(eos, limit):
    out = []
    for t in GREEDY[:limit]:
        out.append(t)
        if t in eos:
            break
    return out


def gen_case(name, what, expect, cfg_changes=None, gen=None, args=()):
    src, _ = fixture(name, cfg_changes, gen)
    rc, out, err = ptm("generate", src, "--ids", ",".join(map(str, PROMPT)), *args)
    ids = None
    for line in out.splitlines():
        if line.startswith("ids: "):
            ids = [int(x) for x in line[5:].split(",")]
    check(rc == 0 and ids == PROMPT + expect, "%s: %s (rc %d, got %s, want %s, %s)"
          % (name, what, rc, ids and ids[len(PROMPT):], expect, err.strip()[-300:]))


first = GREEDY[3]  # the first occurrence of this id is at index 3
assert GREEDY.index(first) == 3
gen_case("g_eos", "stops at generation_config.json's eos_token_id, not config.json's", until_eos([first], 20),
         gen={"eos_token_id": first})
later = GREEDY[30]
gen_case("g_eos_list", "eos_token_id list: stops at the first of them", until_eos([999, later], 100),
         gen={"eos_token_id": [999, later], "max_new_tokens": 100})
gen_case("g_max_new", "max_new_tokens from the file", GREEDY[:7], gen={"max_new_tokens": 7, "eos_token_id": 1})
gen_case("g_max_length", "max_length - prompt length", GREEDY[:5],
         gen={"max_length": len(PROMPT) + 5, "eos_token_id": 1})
gen_case("g_max_length_short", "max_length below the prompt: one token, as transformers", GREEDY[:1],
         gen={"max_length": 3})
gen_case("g_both", "max_new_tokens wins over max_length", GREEDY[:6],
         gen={"max_length": len(PROMPT) + 40, "max_new_tokens": 6})
gen_case("g_flag", "--max-new-tokens overrides the file", GREEDY[:3], gen={"max_new_tokens": 7},
         args=("--max-new-tokens", "3"))
gen_case("g_flag_default", "--max-new-tokens 20 overrides the file even at the built-in default", GREEDY[:20],
         gen={"max_new_tokens": 7}, args=("--max-new-tokens", "20"))
gen_case("g_fallback", "no eos in the file: config.json's eos_token_id", until_eos([first], 30),
         cfg_changes={"eos_token_id": first}, gen={"max_new_tokens": 30})
gen_case("g_derived", "no file: derived from config.json (eos, max_length)", until_eos([later], 50),
         cfg_changes={"eos_token_id": later, "max_length": len(PROMPT) + 50})
gen_case("g_greedy_flag", "--greedy overrides do_sample: true", GREEDY[:10],
         gen={"do_sample": True, "temperature": 0.5, "top_k": 3, "max_new_tokens": 10}, args=("--greedy",))
# do_sample from the file samples: with top_k 1 sampling is greedy, while a
# bad temperature from the file is reported against the file
gen_case("g_sample_topk1", "do_sample with top_k 1 from the file", GREEDY[:10],
         gen={"do_sample": True, "top_k": 1, "max_new_tokens": 10}, args=("--seed", "3"))
src, _ = fixture("g_bad_temp", gen={"do_sample": True, "temperature": 0.0})
rc, out, err = ptm("generate", src, "--ids", "1,2")
check(rc != 0 and "temperature" in err and os.path.join(src, "generation_config.json") in err,
      "temperature 0 with do_sample from the file is an error: %s" % err.strip())
gen_case("g_greedy_bad_temp", "--greedy: the file's sampling values are not used", GREEDY[:4],
         gen={"do_sample": True, "temperature": 0.0, "max_new_tokens": 4}, args=("--greedy",))
src, _ = fixture("g_bad_type", gen={"max_new_tokens": "many"})
rc, out, err = ptm("generate", src, "--ids", "1,2")
check(rc != 0 and "max_new_tokens" in err and os.path.join(src, "generation_config.json") in err,
      "max_new_tokens of the wrong type: an error naming the file and key: %s" % err.strip())

print("%d failure(s)" % failures)
sys.exit(1 if failures else 0)
