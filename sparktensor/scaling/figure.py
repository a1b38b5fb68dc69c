"""The scaling figure: measured speed-up against K, the ideal line and SparkNet's projection (matplotlib)."""


def draw(groups, path):
    """Write one panel per case (every engine in it) to ``path``; returns False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    cases = sorted({g.case for g in groups})
    fig, axes = plt.subplots(1, len(cases), figsize=(5.5 * len(cases), 4.2), squeeze=False)
    for ax, case in zip(axes[0], cases):
        top = 1
        for group in (g for g in groups if g.case == case):
            ks = sorted(group.measured)
            line, = ax.plot(ks, [group.measured[k].speedup for k in ks], "o-",
                            label=f"{group.engine}: measured (over K={group.base.workers})")
            projected = group.projection()
            sparknet_ks = ks + list(projected)
            sparknet = [group.measured[k].sparknet for k in ks] + [s for s, _ in projected.values()]
            ax.plot(sparknet_ks, sparknet, "--", color=line.get_color(),
                    label=f"{group.engine}: SparkNet (over one worker alone)")
            top = max(top, *sparknet_ks)
        ax.plot([1, top], [1, top], ":", color="gray", label="ideal")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.set_xlabel("workers K")
        ax.set_ylabel("speed-up")
        ax.set_title(case, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
