"""check_layer: call a learner's layer backward (and forward) on the course's inputs and judge every output.

    check_layer(backward, forward=None, *, layer=None, seed=0, dtype="float64") -> LayerReport
    check_layer_target(module, names, *, layer=None, seed=0, dtype="float64") -> (exit_code, text)
Exit codes: 0 every output ok, 1 some output wrong, 2 bad usage (no such function, unknown layer),
3 the learner's code raised or could not be called (the text shows the learner's frames, the call
jaxbp made with the arguments' shapes, and a hint). See the package docstring for the whole contract.
"""

from jaxbp import shapes
from jaxbp.checking.layer_check import exact, learner, verdicts
from jaxbp.checking.layer_check.candidates import candidates
from jaxbp.checking.layer_check.kinds import FORWARD, backward_outputs
from jaxbp.checking.layer_check.learner import BY_NAME, LayerCodeError, Missing, signature
from jaxbp.checking.layer_check.magnitudes import magnitudes
from jaxbp.checking.layer_check.problems import LAYERS, family, problem
from jaxbp.checking.layer_check.report import LayerReport

DTYPES = ("float64", "float32")


def recognise(backward, layer=None):
    """The layer kind: `layer` when given, else from the function's name (conv_backward -> "conv", ...)."""
    if layer is not None:
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAYERS)}; got {layer!r}")
        return layer
    name = getattr(backward, "__name__", "")
    for course, kind in sorted(BY_NAME.items(), key=lambda kv: -len(kv[0])):
        if name == course or name.endswith("_" + course):
            return kind
    raise ValueError(f"cannot tell the layer from the name {name!r}: pass layer=, one of {', '.join(LAYERS)} "
                     f"(the course's names {', '.join(BY_NAME)} are recognised)")


def _same_layer(layer, backward, forward, given):
    """ValueError when a function is named as another layer's course function than `layer` (before calling it)."""
    forwards = {signature(k).forward: k for k in LAYERS}
    named = [("forward", forward, forwards.get(getattr(forward, "__name__", None)))]
    if given is not None:
        named.append(("backward", backward, BY_NAME.get(getattr(backward, "__name__", None))))
    for role, fn, kind in named:
        if kind is not None and family(kind) != family(layer):
            raise ValueError(f"{role} is {fn.__name__}, the course's {family(kind)} function, but the layer is "
                             f"{layer!r}" + (" (layer=)" if given is not None else f" (from {backward.__name__})"))


def check_layer(backward, forward=None, *, layer=None, seed=0, dtype="float64"):
    """Call backward (after forward, when given, for its cache) on every case of the layer kind; judge each output.

    backward, forward: the learner's functions, with the course's signatures (learner.py). Without forward,
    jaxbp.layers builds the course's cache (batch norm needs forward: cs231n's cache is the learner's own).
    Raises LayerCodeError (exit code 3) when the learner's code raises; ValueError/TypeError on bad usage.
    """
    if not callable(backward) or (forward is not None and not callable(forward)):
        raise TypeError("backward (and forward, when given) must be the learner's functions")
    given, layer = layer, recognise(backward, layer)
    _same_layer(layer, backward, forward, given)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    shapes.scalar("seed", seed, low=0, integral=True)
    fam, sig = family(layer), signature(layer)
    if fam == "batchnorm" and forward is None:
        raise ValueError(f"{sig.backward} needs your batchnorm_forward too: cs231n's cache is your own format "
                         "(check_layer(batchnorm_backward, batchnorm_forward))")
    cases, refs = problem(layer, seed, dtype), exact.reference(layer, seed, dtype)
    names = backward_outputs(layer)
    user = []
    for index, case in enumerate(cases):
        context = {"layer": layer, "dims": case.dims, "case": case.label if len(cases) > 1 else None,
                   "parameter_keys": tuple(case.inputs.get("parameters", {})), "forward_given": forward is not None}
        kwargs = {"mode": case.mode} if fam == "pool" else {}
        got = {}
        if forward is not None:
            out = learner.call(forward, sig.forward, case.fresh_inputs(), kwargs, context)
            forward_outputs, cache = learner.read_forward(layer, out)
            got.update(forward_outputs)
            if isinstance(cache, Missing):
                user.append({**got, **dict.fromkeys(names, Missing(f"not run: {cache.message}"))})
                continue
        else:
            cache = exact.course_cache(layer, seed, dtype, index)
        args = {**{k: v.copy() for k, v in case.upstream.items()}, sig.backward_args[-1]: cache}
        got.update(learner.read_backward(layer, learner.call(backward, sig.backward, args, kwargs, context), names))
        user.append(got)
    return _report(layer, backward, forward, cases, refs, user, seed, dtype)


def _report(layer, backward, forward, cases, refs, user, seed, dtype):
    fam = family(layer)
    Ms = magnitudes(layer, seed, dtype)
    stages = [("forward", n) for n in (FORWARD[fam] if forward else ())] + [("backward", n) for n in
                                                                            backward_outputs(layer)]
    refs_by_case = [{**fwd, **grads} for fwd, grads in refs]
    pairs = [(n, got[n], ref[n], M[n]) for got, ref, M in zip(user, refs_by_case, Ms, strict=True) for _, n in stages
             if verdicts.comparable(got[n], ref[n])]
    out_dtypes = {got[n].dtype for got in user for _, n in stages if not isinstance(got[n], Missing)}
    precision, notes = verdicts.choose_precision(pairs, dtype, out_dtypes)
    per_case = []
    for index, (case, got, ref, M) in enumerate(zip(cases, user, refs_by_case, Ms, strict=True)):
        wanted = {n: ref[n] for _, n in stages}
        per_case.append(verdicts.judge_case(layer, case, got, wanted, M,
                                            lambda i=index: candidates(layer, seed, dtype)[i], precision))
    rows = tuple(verdicts.row(n, stage, [results[n] for results in per_case]) for stage, n in stages)
    if any(r.stage == "forward" and not r.ok for r in rows):
        name = getattr(forward, "__name__", "forward")
        notes.append(f"your {name} differs from jaxbp.layers' forward: fix it first; "
                     "the backward was fed its cache")
    return LayerReport(layer, getattr(backward, "__name__", "backward"),
                       getattr(forward, "__name__", "forward") if forward else None, rows,
                       tuple(c.label for c in cases), dtype, precision, seed, tuple(dict.fromkeys(notes)))


def check_layer_target(module, names, *, layer=None, seed=0, dtype="float64"):
    """(exit_code, text) for `jaxbp check FILE:conv_forward,conv_backward`: module is the loaded learner module,
    names the function names (a comma-separated string or a sequence; the backward alone, or forward and backward).

    batchnorm_backward(_alt) alone takes the module's batchnorm_forward when it has one.
    """
    names = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    where = getattr(module, "__file__", None) or getattr(module, "__name__", "the module")
    missing = [n for n in names if not callable(getattr(module, n, None))]
    if not names or missing or len(names) > 2:
        return 2, (f"jaxbp check: {where} has no function {missing[0]!r}" if missing else
                   f"jaxbp check: name a backward, or a forward and a backward; got {names}")
    backward_names = [n for n in names if "backward" in n] or names[-1:]
    forward_names = [n for n in names if n not in backward_names[:1]]
    backward = getattr(module, backward_names[0])
    forward = getattr(module, forward_names[0]) if forward_names else None
    notes = []
    try:
        kind = recognise(backward, layer)
        if family(kind) == "batchnorm" and forward is None and callable(getattr(module, "batchnorm_forward", None)):
            forward = module.batchnorm_forward
            notes.append("note: with your batchnorm_forward (cs231n's cache is your own format)")
        report = check_layer(backward, forward, layer=kind, seed=seed, dtype=dtype)
    except LayerCodeError as err:
        return err.exit_code, str(err)
    except (ValueError, TypeError) as err:
        return 2, f"jaxbp check: {err}"
    return (0 if report.ok else 1), "\n".join([str(report), *notes])
