"""The report's paragraphs: one function per experiment, every number read from its results dict.

Each function takes results.json["results"] of its experiment and returns Markdown. Verdicts on
the issue's pilot claims are computed here from the numbers, never typed in. g, pct and table
format numbers and tables for prose; experiments/report.py imports this module, never the reverse.
"""

EPS = {"float64": 2.0 ** -52, "float32": 2.0 ** -23, "bfloat16": 2.0 ** -7, "float16": 2.0 ** -10}


def g(x, digits=2):
    """A number for prose: 3 significant digits, scientific when small or large; None as 'none'."""
    if x is None:
        return "none"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    x = float(x)
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    return f"{x:.{digits}e}" if abs(x) < 1e-3 or abs(x) >= 1e5 else f"{x:.{digits + 1}g}"


def pct(x):
    return f"{100 * x:.3g}%"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def why_average(r):
    s, rows = r["summary"], r["rows"]
    dtypes = list(r["check"])
    checks = ", ".join(f"{g(s[f'{d}_mean_vs_batch'])} in {d} (eps {g(EPS.get(d))})" for d in dtypes)
    sums = max(s[f"{d}_sum_vs_m_times_mean"] for d in dtypes)
    fail = s["first_B_failed|sum"]
    lo, hi = s["final_cost_range|mean"]
    sum_rows = [x for x in rows if x["cost"] == "sum"]
    text = (f"**The mean of the per-example gradients is the batch gradient.** `vmap(grad)` over the examples "
            f"and averaged, against hand-written backprop of the mean cost, differs by a relative error of {checks}: "
            f"round-off of each dtype, nothing more. The sum of the cost's gradients is m times the mean's "
            f"(largest relative error {g(sums)}, over all dtypes). **Why the mean:** trained on digits (m = {r['m']:,}, "
            f"batches of B drawn with replacement) at one learning rate, {g(s['learning_rate'])}, the mean cost ends "
            f"between {g(lo)} and {g(hi)} for every B from {rows[0]['batch_size']} to {rows[-1]['batch_size']}, "
            f"because its step does not grow with B. The sum cost's step is B times larger: ")
    if fail is None:
        text += "in this run no batch size made it fail (refuting the claim at this learning rate). "
    else:
        text += (f"it fails (NaN, a cost above the start, or accuracy below 50%) in most seeds from B = {fail:,} on "
                 f"(NaN in {sum(x['nan_seeds'] for x in sum_rows)} of {sum(x['seeds'] for x in sum_rows)} sum runs), "
                 f"while up to B = {g(s['last_B_ok|sum'])} the same B-times-larger step happens to train faster than "
                 f"the mean: the sum's learning rate is simply a different one for every B. ")
    lo2, hi2 = s["final_cost_range|sum, lr / B"]
    text += (f"The sum at learning rate / B ends between {g(lo2)} and {g(hi2)}, i.e. it is the mean again: a sum "
             f"cost needs its learning rate retuned for every batch size, the mean does not.\n\n")
    text += table(["B", "cost", "final cost (median)", "accuracy (mean)", "failed seeds"],
                  [(x["batch_size"], x["cost"], g(x["final_cost_median"]), g(x["final_accuracy_mean"]),
                    f"{x['failed_seeds']}/{x['seeds']}") for x in rows])
    return text


def activations(r):
    s = r["summary"]
    d = s["depth"]
    hidden = ("sigmoid", "tanh", "relu", "leaky_relu")
    m = {h: s[f"dW1_depth{d}|{h}|matching"] for h in hidden}
    c = {h: s[f"dW1_depth{d}|{h}|common"] for h in hidden}
    text = (f"**Vanishing gradients.** At initialisation (float32, width {s.get('width')}), at depth {d}, the first layer's ‖dW[1]‖ is "
            f"{g(m['sigmoid'])} with sigmoid, {g(m['tanh'])} with tanh, {g(m['relu'])} with relu and "
            f"{g(m['leaky_relu'])} with leaky relu (each with its matching init; with He init for all: "
            f"{g(c['sigmoid'])}, {g(c['tanh'])}, {g(c['relu'])}, {g(c['leaky_relu'])}). Sigmoid's is "
            f"{g(m['relu'] / m['sigmoid'], 1)} times smaller than relu's: every sigmoid layer multiplies the "
            f"backward signal by g' <= 1/4. The ratio ‖dW[1]‖ / ‖dW[L]‖ (first over last layer) is "
            f"{g(s[f'dW1_over_dWL_depth{d}|sigmoid|matching'], 1)} for sigmoid, "
            f"{g(s[f'dW1_over_dWL_depth{d}|tanh|matching'], 1)} for tanh and "
            f"{g(s[f'dW1_over_dWL_depth{d}|relu|matching'], 1)} for relu. At depth {s.get('max_depth')} the float32 "
            f"gradient of {s.get('zero_layers_max_depth|sigmoid')} sigmoid layer(s) has underflowed to exactly 0 "
            f"(relu: {s.get('zero_layers_max_depth|relu')}).\n\n")
    names = sorted({k.split("|")[1] for k in s if k.startswith("final_cost|")}, key=lambda n: n)
    text += "**Training** (final cost / training accuracy, mean over seeds; curves below):\n\n"
    text += table(["data set", *hidden], [(n, *(f"{g(s[f'final_cost|{n}|{h}'])} / {pct(s[f'final_acc|{n}|{h}'])}"
                                                 for h in hidden)) for n in names])
    slow = [n for n in names if all(s[f"final_cost|{n}|sigmoid"] > s[f"final_cost|{n}|{h}"] for h in hidden[1:])]
    text += (f"\n\nSigmoid ends with the highest cost on {len(slow)} of {len(names)} data sets"
             f"{' (' + ', '.join(slow) + ')' if slow else ''}.\n\n")
    rows = []
    for size in s["timing_sizes"]:
        base = s[f"time|{size}|identity"]
        rows.append((size, f"{1e3 * base:.3g}", *(f"{1e3 * s[f'time|{size}|{h}']:.3g} ({pct(s[f'time|{size}|{h}|share'])})"
                                                  for h in hidden)))
    text += ("**Cost of the activation itself**: one jitted forward+backward step, ms (share of the step taken by "
             "the activation = (t - t_identity) / t; negative = within timing noise):\n\n")
    text += table(["width x m", "identity", *hidden], rows)
    sizes = s["timing_sizes"]
    fastest = {size: min(hidden, key=lambda h: s[f"time|{size}|{h}"]) for size in sizes}
    text += ("\n\nFastest hidden activation: " + ", ".join(f"{fastest[z]} at {z}" for z in sizes)
             + "; relu against sigmoid: " + ", ".join(f"{100 * (s[f'time|{z}|relu'] / s[f'time|{z}|sigmoid'] - 1):+.0f}% "
                                                        f"at {z}" for z in sizes)
             + " (least of the repeated timings, on a shared 2-core CPU: differences of a few % are noise). "
             f"Where matmuls dominate (the first size) the activation is a small part of the step; relu's "
             f"advantage is the gradient, not the arithmetic. **Why sigmoid stays at the output:** it turns Z[L] into "
             f"a probability in (0, 1), and with cross-entropy its gradient is dZ[L] = AL - Y: for a confidently "
             f"wrong z = -10 (y = 1) |dL/dz| = {g(s['output_grad_at_z-10|bce'])}, where squared error on the same "
             f"sigmoid gives {g(s['output_grad_at_z-10|mse'])}: the saturation that hurts hidden layers is "
             f"cancelled by the log in the loss.")
    return text


def placement(r):
    s = r["summary"]
    dtypes = [d for d in ("float32", "bfloat16", "float16") if f"{d}_top_m" in s or f"{d}_placement_diff_dW_median" in s]
    text = (f"**In float32 the placements are bit-identical whenever m is a power of two** "
            f"({'all' if s['float32_pow2_bit_identical'] else 'NOT all'} {s['float32_pow2_cells']} power-of-two cells): "
            f"dividing by 2^k is exact, so it commutes with every rounding. For m = "
            f"{', '.join(map(str, s['float32_other_m'])) or '(none)'} they are "
            f"{'bit-identical' if s['float32_other_m_bit_identical'] else 'not bit-identical'}, yet they differ by at "
            f"most {g(s.get('float32_max_placement_diff_dW'))} (relative). Their common error against float64 grows "
            f"with m, up to {g(s['float32_deferred_max_err_dW_finite'])} (deferred) and "
            f"{g(s['float32_absorbed_max_err_dW_finite'])} (absorbed): that is the float32 "
            f"accumulation over m, the same for both (see the summation order below). Bit-identical power-of-two cells in the other dtypes: "
            + "; ".join(f"{d} {s[f'{d}_pow2_identical_cells'][0]} of {s[f'{d}_pow2_identical_cells'][1]}"
                        + (" (not: " + ", ".join(f"m = {m} at depth {dd}" for m, dd in s[f"{d}_pow2_not_identical"][:4])
                           + ")" if s[f"{d}_pow2_not_identical"] else "")
                        for d in dtypes if d != "float32" and f"{d}_pow2_identical_cells" in s)
            + ". In float16, subnormal dZ/m drop low bits, so the absorbed path rounds differently"
            + ("; the bfloat16 differences at m = 2^k have no such cause (no subnormals) and are left unexplained "
               "here (XLA's CPU bfloat16 kernels)" if s.get("bfloat16_pow2_not_identical") else "") + ".\n\n")
    rows = []
    for d in dtypes:
        for p in ("deferred", "absorbed"):
            rows.append((d, p, g(s[f"{d}_{p}_max_err_dW_finite"]), pct(s[f"{d}_{p}_max_dZ_subnormal"]),
                         pct(s[f"{d}_{p}_max_dZ_lost"]), g(s[f"{d}_{p}_first_m_dZ_subnormal_over_1pct"]),
                         g(s[f"{d}_{p}_first_m_nonfinite"])))
    text += table(["dtype", "placement", "max rel. error dW (finite)", "max % dZ subnormal", "max % dZ lost to 0",
                   "first m with > 1% dZ subnormal", "first m with Inf/NaN in dW, db"], rows)
    f16a, f16d = s.get("float16_absorbed_first_m_dZ_half_subnormal"), s.get("float16_deferred_first_m_nonfinite")
    claim1 = f16a is not None and 2 ** 12 <= f16a <= 2 ** 17
    claim2 = f16d is not None and s.get("float16_absorbed_first_m_nonfinite") is None
    bf = [s.get(f"bfloat16_{p}_first_m_nonfinite") for p in ("deferred", "absorbed")] + \
         [s.get(f"bfloat16_{p}_first_m_dZ_subnormal_over_1pct") for p in ("deferred", "absorbed")]
    claim3 = all(x is None for x in bf)
    order_gap = {d: max(max(s[f"{d}_order_{o}_{w}_err_top_m"] for o in ("xla_sum", "matmul", "pairwise"))
                        - min(s[f"{d}_order_{o}_{w}_err_top_m"] for o in ("xla_sum", "matmul", "pairwise"))
                        for w in ("dW", "db")) for d in dtypes}
    claim4 = [d for d in dtypes if order_gap[d] > s[f"{d}_placement_diff_dW_top_m"]]
    text += (f"\n\n**The pilot's claims, checked** (m up to {s['top_m']:,}; first m at any depth):\n"
             f"- float16, absorbed underflows dZ/m into subnormals from m ~ 1e4: > 1% of dZ is subnormal from "
             f"m = {g(s.get('float16_absorbed_first_m_dZ_subnormal_over_1pct'))}, more than half is subnormal or "
             f"flushed to 0 from m = {g(f16a)}, and "
             + (f"a layer's whole gradient is lost (relative error >= 0.5) from m = "
                f"{g(s.get('float16_absorbed_first_m_grad_lost'))}"
                if s.get("float16_absorbed_first_m_grad_lost") is not None else
                "no layer's gradient is lost entirely (relative error stays below 0.5)")
             + f" (deferred: {g(s.get('float16_deferred_first_m_grad_lost'))}). "
             + ("Confirmed: most of dZ is gone between m = 2^12 and 2^17"
                + (", and the underflow starts well before 1e4." if (s.get("float16_absorbed_first_m_dZ_subnormal_over_1pct")
                                                                     or 1e9) < 2 ** 12 else ".")
                if claim1 else "Not as the pilot said.") + "\n"
             f"- float16, deferred overflows the sum over m: first Inf/NaN in dW, db at m = {g(f16d)} (pilot: near "
             f"1e6); absorbed never overflows (first Inf/NaN: {g(s.get('float16_absorbed_first_m_nonfinite'))}). "
             f"{'Confirmed in kind' + (', at a smaller m than the pilot said' if f16d < 5e5 else '') + '.' if claim2 else 'Not confirmed in this run.'}\n"
             f"- bfloat16 indifferent (no overflow, no subnormal dZ, either placement): "
             f"{'confirmed' if claim3 else 'refuted'}; its error is bfloat16's own 8-bit mantissa "
             f"(deferred {g(s.get('bfloat16_deferred_max_err_dW_finite'))}).\n"
             f"- summation order vs placement: at the largest m where each dtype stays finite ("
             + ", ".join(f"{d}: {g(s[f'{d}_order_m'])}" for d in dtypes) + ", depth " + str(s["depth"])
             + ") the errors of dW[L], db[L] by the three summation orders differ by up to "
             + ", ".join(f"{g(order_gap[d])} in {d}" for d in dtypes) + " (relative error), the two placements by "
             + ", ".join(f"{g(s[f'{d}_placement_diff_dW_top_m'])}" for d in dtypes)
             + f"; order matters more than placement in {', '.join(claim4) if claim4 else 'none of the dtypes'}"
             f"{'' if set(claim4) == set(dtypes) else ' only'}. On this CPU XLA's reduce and its matmul both "
             f"accumulate in float32 and round once, so they agree; a pairwise tree in the dtype itself errs on "
             f"dW[L] by " + ", ".join(f"{g(s[f'{d}_order_pairwise_dW_err_top_m'])}" for d in dtypes)
             + " against " + ", ".join(f"{g(s[f'{d}_order_xla_sum_dW_err_top_m'])}" for d in dtypes)
             + " (same dtypes). Where the placements are bit-identical (float32 and bfloat16 at m = 2^k), any "
             "order effect is larger than the placement's zero; in float16 the placement decides whether a "
             "gradient survives at all, which dwarfs the order.\n\n"
             "Trade-off: deferred keeps dZ at the scale of one example's gradient (no underflow) and risks "
             "overflow of the sum over m before the 1/m; absorbed makes every dZ m times smaller and underflows "
             "first. In float32 and bfloat16 (8-bit exponent) neither happens at these m.")
    return text


def dz_no_one_over_m(r):
    s = r["summary"]
    dts = [k.split("_max_err")[0] for k in s if k.endswith("_max_err_deferred_vs_per_example")]
    v = ("deferred (Ng)", "1/m twice", "1/m twice, lr x m")
    text = ("**dZ[l] is a chain-rule factor, and which one depends on the placement.** Against autodiff with "
            "respect to Z[l] itself: the deferred dZ[l] equals the per-example gradient dL(i)/dZ[l] (the gradient "
            "of the summed cost) to " + ", ".join(f"{g(s[f'{d}_max_err_deferred_vs_per_example'])} in {d}" for d in dts)
            + "; the absorbed dZ[l] equals dJ/dZ[l] of the mean cost to "
            + ", ".join(f"{g(s[f'{d}_max_err_absorbed_vs_dJdZ'])} in {d}" for d in dts)
            + "; the deferred dZ is not dJ/dZ (relative difference "
            + g(s[f"{dts[0]}_min_err_deferred_vs_dJdZ"]) + f", i.e. (m-1)/(m+1) for m = {s['m']}), and deferred / "
            f"absorbed = {g(s[f'{dts[0]}_ratio'][0])} = m in every layer. So with Ng's dZ[L] = AL - Y the 1/m must "
            f"come exactly once, in dW and db. **Applying it twice** (dZ[L] = (AL - Y)/m and dW = (1/m) dZ A.T) "
            f"divides every step by m = {s['m']}: on breast cancer the correct run ends at cost "
            f"{g(s[f'final_cost_mean|{v[0]}'])} (accuracy {pct(s[f'final_accuracy_mean|{v[0]}'])}), the 1/m-twice run "
            f"at {g(s[f'final_cost_mean|{v[1]}'])} (accuracy {pct(s[f'final_accuracy_mean|{v[1]}'])}, from "
            f"{g(s[f'initial_cost_mean|{v[1]}'])} at the start), and the 1/m-twice run with learning rate x m retraces "
            f"the correct curve (largest cost difference {g(s['max_abs_diff_correct_vs_twice_lr_x_m'])}). On a loss "
            f"curve the bug looks like a learning rate m times too small; a gradient check against jax.grad shows it "
            f"at once (relative error (m-1)/(m+1) = {g((s['m'] - 1) / (s['m'] + 1))} in every dW).")
    return text


def dal_vs_dzl(r):
    per = r["per_dtype"]
    methods = ("dAL chain", "dZL rule", "logits autodiff")

    def rng(x):
        return f"[{g(x[0])}, {g(x[1])}]"

    rows = [(d, k, rng(per[d][k]["finite"]), rng(per[d][k]["accurate"]), rng(per[d][k]["rel_accurate"]))
            for d in per for k in (*methods, "J_prob", "J_logits")]
    f32 = per.get("float32", next(iter(per.values())))
    text = ("**Over which z = Z[L] is each start finite and accurate?** For a sigmoid unit, in float32 the course's "
            f"dAL chain is finite only on {rng(f32['dAL chain']['finite'])}: once sigmoid(z) rounds to 1 it computes "
            f"0/0 (pilot: NaN from z >= 17). The fused dZ[L] = AL - Y is finite on {rng(f32['dZL rule']['finite'])} "
            f"and within 8 eps on {rng(f32['dZL rule']['accurate'])}, and autodiff of the loss written from the logits "
            f"is finite on {rng(f32['logits autodiff']['finite'])}. Per dtype:\n\n")
    text += table(["dtype", "method", "finite on", "abs. error <= 8 eps on", "rel. error <= 1% on"], rows)
    text += ("\n\nThe dAL chain is finite only up to " + ", ".join(f"z = {g(per[d]['dAL chain']['finite'][1], 3)} in {d}"
                                                               for d in per)
             + " (the grid step is the last digit's size); AL - Y is finite everywhere, but its tiny gradients of confidently right predictions round to 0 "
             "(relative accuracy lost beyond " + ", ".join(f"{g(per[d]['dZL rule']['rel_accurate'][1])} in {d}"
                                                           for d in per)
             + "), which costs nothing in absolute terms. The course's cost from AL (J_prob) is Inf where the dAL "
             "chain is NaN; the cost from the logits (J_logits) stays finite everywhere.")
    return text


def device_averaging(r):
    rows = r["averaging"]
    seed = rows[0]["seed"]
    rows = [x for x in rows if x["seed"] == seed]
    worst = max(rows, key=lambda x: x["naive_error"])
    even = [x["naive_error"] for x in rows if x["imbalance"] == 0]
    first_bad = {}
    for x in sorted(r["precision"], key=lambda x: x["m"]):
        if x["n_nonfinite"] > 0:
            first_bad.setdefault((x["dtype"], x["placement"], x["divide"]), x["m"])
    return (f"**pmean of per-device means is the global mean only for equal shards.** Over "
            f"{len(r['devices'])} device(s), even shards give an error of {g(max(even) if even else None)}; with "
            f"shards {worst['counts']} of {worst['data']} data the pmean of means is off by {g(worst['naive_error'])} "
            f"(relative), where the formula sum_k (1/D - n_k/m) mean_k predicts {g(worst['predicted_naive_error'])} "
            f"(they agree to {g(max(x['formula_rel_error'] for x in rows))}). The fix, jaxbp's psum of the sums and "
            f"of the counts, matches one device to {g(max(x['exact_rel_error'] for x in rows))}. "
            f"**Where the 1/m goes across devices** (low precision): first m with Inf/NaN per "
            f"(dtype, placement, divide): "
            + ("; ".join(f"{d} {p} divide {v}: {g(m)}" for (d, p, v), m in sorted(first_bad.items()))
               or "none in this run")
            + f". Safer default measured: divide {r['default_divide']} the psum.")
