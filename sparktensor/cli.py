"""The ``sparktensor`` command: ``train`` a network on Spark (or in one process), ``plot`` its history, and
``info`` on the versions, devices and Spark set-up found here."""
import json
import logging
import os
import sys
import time

import numpy as np

from .cli_checks import OneLineParser, check_master, fail, positive_float, positive_int, seed

DESCRIPTION = ("Train a network on Spark, on Dask or in this process (train), apply it to a table on the "
               "executors (predict), draw training histories (plot), or report versions, devices and whether "
               "Spark starts (info).")
MODELS = ("mlp", "lenet", "vgg", "lstm", "transformer")
DATASETS = ("fashion-mnist", "digits", "shakespeare", "japanese-vowels")
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530


def load_dataset(name, limit=None):
    """``(train_x, train_y, test_x, test_y, meta)`` as NumPy arrays for one of ``DATASETS``."""
    from . import data
    if name == "fashion-mnist":
        (x, y), (tx, ty) = (data.load_fashion_mnist(split=s, normalize=True) for s in ("train", "test"))
        x, tx = (((a - FASHION_MEAN) / FASHION_STD).reshape(-1, 1, 28, 28).astype(np.float32) for a in (x, tx))
        return x[:limit], y[:limit], tx, ty, {"classes": 10}
    if name == "digits":
        images, labels = data.load_digits(normalize=True)
        order = np.random.default_rng(0).permutation(len(labels))
        images, labels = images[order], labels[order]
        cut = int(0.8 * len(labels))
        return images[:cut][:limit], labels[:cut][:limit], images[cut:], labels[cut:], {"classes": 10}
    if name == "japanese-vowels":
        train, test = data.load_ucr("JapaneseVowels", "train"), data.load_ucr("JapaneseVowels", "test")
        mask = np.arange(train.series.shape[1])[None, :] < train.lengths[:, None]
        mean, std = train.series[mask].mean(axis=0), train.series[mask].std(axis=0) + 1e-6
        # standardize real steps only, so padding stays exactly zero (the classifier finds lengths by it)
        scale = [np.where((np.arange(d.series.shape[1])[None, :] < d.lengths[:, None])[..., None],
                          (d.series - mean) / std, 0).astype(np.float32) for d in (train, test)]
        return scale[0][:limit], train.labels[:limit], scale[1], test.labels, {"classes": len(train.classes)}
    if name == "shakespeare":
        text = data.load_shakespeare()
        vocab = data.CharVocab(text)
        train_ids, val_ids = data.train_val_split(vocab.encode(text), 0.05)
        (x, y), (tx, ty) = (data.char_windows(ids, 100) for ids in (train_ids, val_ids))
        return x[:limit], y[:limit], tx[:2000], ty[:2000], {"classes": len(vocab)}
    raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")


def build_model(model, dataset, meta, train_x):
    """The network for a (model, data set) pair, or an error naming the pairs that work."""
    from . import models
    classes = meta["classes"]
    if dataset == "shakespeare":
        if model == "transformer":  # without dropout, as the tuned recipe of examples/shakespeare_transformer.py
            return models.CharTransformer(classes, dropout=0.0)
        if model != "lstm":
            raise ValueError("the shakespeare data set trains a character model: use --model lstm or --model "
                             "transformer")
        return models.CharLSTM(classes)
    if model == "transformer":
        raise ValueError(f"--model transformer is the character model of the shakespeare data set; {dataset} has "
                         f"samples of shape {train_x.shape[1:]}")
    if model == "mlp":
        return models.MLP(int(np.prod(train_x.shape[1:])), (256, 128), classes)
    if model == "lenet":
        if train_x.shape[1:] != (1, 28, 28):
            raise ValueError(f"--model lenet needs 28x28 images (fashion-mnist), {dataset} has samples of shape "
                             f"{train_x.shape[1:]}")
        return models.LeNet5(1, classes)
    if model == "vgg":
        if train_x.ndim != 4 or train_x.shape[2] != train_x.shape[3]:
            raise ValueError(f"--model vgg needs square images (N, C, H, H) (fashion-mnist), {dataset} has "
                             f"samples of shape {train_x.shape[1:]}")
        return models.vgg_small(train_x.shape[1], classes, train_x.shape[2])
    if model == "lstm":
        if train_x.ndim != 3:
            raise ValueError(f"--model lstm needs sequences (japanese-vowels, shakespeare), {dataset} has samples "
                             f"of shape {train_x.shape[1:]}")
        return models.LSTMClassifier(train_x.shape[2], classes)
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


def parse_mesh(text):
    """``"DxM"`` -> ``(D, M)``, positive integers."""
    try:
        d, m = (int(v) for v in text.lower().split("x"))
        if d < 1 or m < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"--mesh must be DxM with positive integers D (replicas) and M (model shards), "
                         f"got {text!r}") from None
    return d, m


def layout(args):
    """``(D, M)``: data-parallel replicas and model shards for ``--mode``, ``--workers`` and ``--mesh``."""
    if args.mesh is None:
        return {"data": (args.workers, 1), "model": (1, args.workers)}.get(args.mode) or _no_mesh()
    d, m = parse_mesh(args.mesh)
    if args.mode == "data" and m != 1:
        raise ValueError(f"--mode data splits no model: use --mesh {d}x1, or --mode hybrid for {args.mesh}")
    if args.mode == "model" and d != 1:
        raise ValueError(f"--mode model has one replica: use --mesh 1x{m}, or --mode hybrid for {args.mesh}")
    return d, m


def _no_mesh():
    raise ValueError("--mode hybrid needs --mesh DxM (D replicas, each split over M ranks)")


def make_engine(args):
    """The engine ``--engine`` names."""
    from . import dist
    if args.engine == "local":
        return dist.LocalEngine()
    if args.engine == "dask":
        return dist.DaskEngine()
    if getattr(args, "remote", None):
        from .dist.engines.connect import connect_session
        return dist_engine(connect_session(args.remote))
    return spark_engine(args.master)


def dist_engine(session):
    """``dist.SparkEngine`` on a given session."""
    from . import dist
    return dist.SparkEngine(session)


def spark_engine(master):
    """A ``SparkEngine`` on ``master`` (checked first), started with a quiet console."""
    from . import dist
    from .spark_console import quiet_launch
    check_master(master)
    with quiet_launch():
        return dist.SparkEngine(master=master)


def train(args):
    """Run ``sparktensor train``; returns the final history entry."""
    import sparktensor as st
    from . import dist, nn
    replicas, shards = layout(args)
    if args.data and not args.label:
        raise ValueError("--data needs --label COL (the column of class indices)")
    st.manual_seed(args.seed)
    start = time.perf_counter()
    with make_engine(args) as engine:  # a Dask engine's own cluster is shut down at the end
        if args.data:
            data, test, meta = _user_data(args, engine, replicas)
            name = args.data
        else:
            x, y, tx, ty, meta = load_dataset(args.dataset, args.limit)
            data, test, name = dist.from_numpy(x, y, partitions=replicas), (tx, ty), args.dataset
            meta["feature_shape"] = list(x.shape[1:])
        try:
            model = build_model(args.model, args.dataset if not args.data else name, meta,
                                np.empty([0] + meta["feature_shape"], np.float32))
            optimizer = st.optim.Adam(model.parameters(), lr=args.lr)
            loss = nn.functional.cross_entropy
            # --mode data trains as one gang (on Spark one barrier stage) whose ranks average over direct
            # connections, SparkNet's parameter averaging on a D x 1 mesh, without the Spark job per round of
            # ParameterAveraging (some 90 ms each on a 2-core local[2]; 141 rounds in the main job); where the
            # cluster cannot run all D ranks at once, ParameterAveraging runs its tasks as slots free up
            per_round_jobs = args.mode == "data" and not gang_fits(engine, replicas)
            if per_round_jobs:
                trainer = dist.ParameterAveraging(model, loss, optimizer, workers=replicas, tau=args.tau,
                                                  batch_size=args.batch_size, seed=args.seed, engine=engine)
            else:
                trainer = dist.HybridTrainer(model, loss, optimizer, mesh=dist.Mesh(data=replicas, model=shards),
                                             sync="average" if replicas > 1 and args.tau > 1 else "gradients",
                                             tau=args.tau, batch_size=args.batch_size, seed=args.seed,
                                             engine=engine)
            model, history = trainer.fit(data, epochs=args.epochs, eval_data=test, eval_every=args.eval_every,
                                         checkpoint_dir=os.path.join(args.out, "checkpoints"))
        finally:
            for held in (data, test):
                if isinstance(held, dist.ResidentData):
                    held.release()
    os.makedirs(args.out, exist_ok=True)
    st.save(model.state_dict(), os.path.join(args.out, "model.safetensors"))
    history.to_json(os.path.join(args.out, "history.json"))
    with open(os.path.join(args.out, "model.json"), "w") as f:
        json.dump({"model": args.model, "dataset": None if args.data else args.dataset, "classes": meta["classes"],
                   "feature_shape": meta["feature_shape"], "features": meta.get("features"),
                   "label": meta.get("label")}, f, indent=1)
    final = history.last
    how = (f"parameter averaging on {replicas} workers (tau {args.tau}"
           f"{', one job a round: the cluster cannot run them all at once' if per_round_jobs else ''})"
           if args.mode == "data" else
           f"{args.mode} parallel on a {replicas}x{shards} mesh")
    print(f"{args.model} on {name}, {how}: test accuracy {final['accuracy']:.4f}, {len(history)} rounds, "
          f"{time.perf_counter() - start:.1f} s; wrote {args.out}/model.safetensors, model.json and "
          f"history.json (and per-round checkpoints in {args.out}/checkpoints)")
    return final


def gang_fits(engine, ranks):
    """Whether ``engine`` can run a gang of ``ranks`` ranks at once: a Spark barrier stage needs a task slot for
    each, a Dask gang a worker process for each; in-process gangs always fit."""
    from .dist.engines.connect import ConnectEngine
    from .dist.engines.dask import DaskEngine
    from .dist.engines.spark import SparkEngine
    from .dist.engines.spark_gang import slots_for
    if isinstance(engine, SparkEngine):
        return slots_for(engine.sc, ranks) >= ranks  # a cluster's executors may still be registering
    if isinstance(engine, ConnectEngine):
        return engine.workers >= ranks
    if isinstance(engine, DaskEngine):
        return len(engine.client.nthreads()) >= ranks
    return True


def _user_data(args, engine, replicas):
    """``(train, eval, meta)`` for ``--data``, kept on the engine's cluster where it has one."""
    from . import cli_data
    if not args.label:
        raise ValueError("--data needs --label COL (the column of class indices)")
    if args.engine == "spark":
        data, test, features = cli_data.spark_data(engine.spark, args, replicas)
    elif args.engine == "dask":
        data, test, features = cli_data.dask_data(engine.client, args, replicas)
    else:
        data, test, features = cli_data.local_data(args, replicas)
    ranges = [r for r in data.label_ranges if r is not None]
    if not ranges:
        for held in (data, test):
            getattr(held, "release", lambda: None)()
        raise ValueError(f"--label {args.label!r} does not hold class indices (integers); the CLI trains "
                         f"classifiers")
    classes = args.classes or max(high for _, high in ranges) + 1
    return data, test, {"classes": int(classes), "feature_shape": list(data.feature_shape), "features": features,
                        "label": args.label}


def network(input_shape, outputs, model="mlp", dataset=None):
    """The network ``train`` builds, as a Spark ML builder (``"sparktensor.cli:network"``) for ``predict``."""
    meta = {"classes": outputs}
    return build_model(model, dataset or "--data", meta, np.empty((0,) + tuple(input_shape), np.float32))


def predict(args):
    """Run ``sparktensor predict``: the executors apply a trained model to a table; predictions go to Parquet."""
    import sparktensor as st
    from pyspark.sql import functions as F

    from . import cli_data
    from .ml import SparkTensorClassificationModel
    with open(os.path.join(args.model_dir, "model.json")) as f:
        spec = json.load(f)
    if os.path.exists(args.out):
        raise ValueError(f"--out {args.out} exists; predict never overwrites (remove it or choose another path)")
    weights = {k: v.numpy() for k, v in st.load(os.path.join(args.model_dir, "model.safetensors")).items()}
    if args.remote:  # Spark Connect: the same DataFrame work, no SparkContext
        from .dist.engines.connect import connect_session
        engine = dist_engine(connect_session(args.remote))
    else:
        engine = spark_engine(args.master)
    frame = cli_data.spark_frame(engine.spark, args.data)
    features = spec["features"] or cli_data.feature_columns(frame.columns, None, spec["label"])
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"the model was trained on columns {features}; {args.data} lacks {missing}")
    column = features[0] if len(features) == 1 else "__sparktensor_features"
    if len(features) > 1:
        frame = frame.withColumn(column, F.array(*[F.col(f"`{c}`").cast("double") for c in features]))
    model = SparkTensorClassificationModel(weights=weights)
    model._set(model="sparktensor.cli:network", modelOptions={"model": spec["model"], "dataset": spec["dataset"]},
               inputShape=spec["feature_shape"], numOutputs=spec["classes"], featuresCol=column,
               rawPredictionCol="", probabilityCol="", predictionCol="prediction")
    out = model.transform(frame).withColumn("prediction", F.col("prediction").cast("long"))
    if len(features) > 1:
        out = out.drop(column)
    out.write.parquet(args.out)
    print(f"wrote the predictions of {args.model_dir} for {args.data} to {args.out}")


def plot(args):
    """Run ``sparktensor plot``: draw the history files into a PNG."""
    from .plot import parse_size, plot_histories
    try:
        out = plot_histories(args.histories, args.output, size=parse_size(args.size))
    except ImportError as e:
        raise ValueError(str(e)) from e
    print(f"wrote {out}")


def info(args):
    """Run ``sparktensor info``: versions, devices and whether Spark can start, for people or as JSON."""
    from .info import collect, format_report
    report = collect(check=args.check_spark)
    print(json.dumps(report, indent=1) if args.json else format_report(report))


def parser():
    """The argument parser of the ``sparktensor`` command."""
    top = OneLineParser(prog="sparktensor", description=DESCRIPTION)
    commands = top.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train a network: data, model or hybrid parallel",
                            description="Train a network and write the model, its history and per-round "
                                        "checkpoints to --out.")
    t.add_argument("--model", choices=MODELS, default="lenet",
                   help="the network: mlp, lenet (LeNet-5, 28x28 images), vgg (a small VGG, square images), "
                        "lstm (sequences) or transformer (the character model of shakespeare) "
                        "(default: %(default)s)")
    t.add_argument("--dataset", choices=DATASETS, default="fashion-mnist",
                   help="a built-in data set, downloaded by .ci/install-datasets (default: %(default)s)")
    t.add_argument("--data", default=None, metavar="PATH_OR_TABLE",
                   help="train on your own table instead of --dataset: Parquet (file or folder), CSV, or a Spark "
                        "catalog table")
    t.add_argument("--features", default=None, metavar="COL[,COL...]",
                   help="feature columns of --data (numbers or arrays; default: every column but the label)")
    t.add_argument("--label", default=None, metavar="COL", help="the column of class indices 0..C-1 in --data")
    t.add_argument("--feature-shape", default=None, metavar="1,28,28", help="reshape each sample's features")
    t.add_argument("--eval-data", default=None, metavar="PATH_OR_TABLE",
                   help="evaluate on this table (default: 10%% of --data, held out at random)")
    t.add_argument("--classes", type=positive_int, default=None,
                   help="number of classes (default: the largest label + 1)")
    t.add_argument("--workers", type=positive_int, default=2,
                   help="workers (Spark tasks): data-parallel replicas, or model shards with --mode model "
                        "(default: %(default)s)")
    t.add_argument("--mode", choices=("data", "model", "hybrid"), default="data",
                   help="data: SparkNet parameter averaging; model: weight matrices split across the workers; "
                        "hybrid: --mesh DxM, D replicas each split over M workers (default: %(default)s)")
    t.add_argument("--mesh", default=None, metavar="DxM", help="replicas x model shards (model and hybrid modes)")
    t.add_argument("--tau", type=positive_int, default=10,
                   help="local steps between averagings; 1: synchronous SGD (default: %(default)s)")
    t.add_argument("--epochs", type=positive_int, default=3,
                   help="passes over the training data (default: %(default)s)")
    t.add_argument("--batch-size", type=positive_int, default=64,
                   help="samples per local step on each worker (default: %(default)s)")
    t.add_argument("--lr", type=positive_float, default=2e-3,
                   help="Adam's learning rate (default: %(default)s)")
    t.add_argument("--master", default=None,
                   help="Spark master URL, e.g. spark://HOST:7077 (default: an embedded local[*] session)")
    t.add_argument("--remote", default=None, metavar="URL",
                   help="train through Spark Connect: sc://host:15002, or a master such as local[2] for a local "
                        "Connect server")
    t.add_argument("--engine", choices=("spark", "local", "dask"), default="spark",
                   help="spark, dask (a local Dask cluster), or local (this process) (default: %(default)s)")
    t.add_argument("--eval-every", type=positive_int, default=50,
                   help="evaluate every this many rounds, and at the end (default: %(default)s)")
    t.add_argument("--limit", type=positive_int, default=None, help="use only the first N training samples")
    t.add_argument("--seed", type=seed, default=0,
                   help="seed of the initial weights and the batch order (default: %(default)s)")
    t.add_argument("--out", default="sparktensor-run",
                   help="directory for model.safetensors, model.json, history.json and checkpoints/ "
                        "(default: %(default)s)")
    t.set_defaults(run=train)

    r = commands.add_parser("predict", help="apply a model trained by 'train' to a table on the executors")
    r.add_argument("--model-dir", required=True, help="the --out directory of a train run")
    r.add_argument("--data", required=True, metavar="PATH_OR_TABLE", help="Parquet, CSV or a Spark catalog table")
    r.add_argument("--out", required=True, help="the Parquet folder to write: the input's columns and 'prediction'")
    r.add_argument("--master", default=None, help="Spark master URL (default: an embedded local[*] session)")
    r.add_argument("--remote", default=None, metavar="URL",
                   help="predict through Spark Connect: sc://host:port, or a master such as local[2] for a local "
                        "Connect server (default: none, a classic session)")
    r.set_defaults(run=predict)

    p = commands.add_parser("plot", help="draw loss and accuracy of training runs against rounds and wall time")
    p.add_argument("histories", nargs="+", metavar="HISTORY.json", help="history files written by train")
    p.add_argument("-o", "--output", default=None, help="the PNG to write (default: the first history's name "
                                                        "with .png)")
    p.add_argument("--size", default="1200x800", help="WIDTHxHEIGHT of the picture in pixels (default: %(default)s)")
    p.set_defaults(run=plot)

    i = commands.add_parser("info", help="versions, devices, and whether Spark can start")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.add_argument("--check-spark", action="store_true", help="start a local Spark session and run a small job")
    i.set_defaults(run=info)
    return top


def check(args):
    """What can be checked of ``args`` without data or Spark: raises ValueError naming the option."""
    if getattr(args, "mesh", None) is not None or getattr(args, "mode", "data") == "hybrid":
        layout(args)
    if getattr(args, "size", None) is not None:
        from .plot import parse_size
        parse_size(args.size)
    if getattr(args, "feature_shape", None):
        from .cli_data import parse_shape
        parse_shape(args.feature_shape)


def main(argv=None):
    """Entry point of the ``sparktensor`` command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        check(args)
        args.run(args)
    except (ValueError, FileNotFoundError) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
