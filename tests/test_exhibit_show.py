"""The show's state and choreography: time not frames, gradual change, modes that blend, commands that apply."""
import numpy as np
import pytest

import model

from exhibit import commands as c
from exhibit import config
from exhibit.show.choreography import RETARGET, Choreography
from exhibit.show.state import Show

Z = 32


def steps(chor, times):
    """Largest latent move of any tile between consecutive sample times."""
    out, previous = [], None
    for t in times:
        z = chor.latents(t)
        if previous is not None:
            out.append(np.linalg.norm(z - previous, axis=1).max())
        previous = z
    return np.array(out)


def test_same_seed_same_paths_and_time_not_frames():
    a = Choreography(14, 14, Z, seed=7)
    b = Choreography(14, 14, Z, seed=7)
    for t in (0.0, 3.3, 17.25):
        assert np.array_equal(a.latents(t), b.latents(t))
    assert not np.allclose(a.latents(3.3), Choreography(14, 14, Z, seed=8).latents(3.3))
    # Sampling often or rarely does not change where a tile is at t.
    for t in np.linspace(0, 12, 200):
        a.latents(t)
    assert np.array_equal(a.latents(12.0), b.latents(12.0))


def test_drift_is_gradual_and_out_of_phase():
    chor = Choreography(14, 14, Z, seed=1, keyframe_seconds=10)
    moves = steps(chor, np.arange(0, 20, 1 / 60))
    # On a sphere of radius ~sqrt(Z) a keyframe is ~8 units away; at 60 fps no tile may move more than a sliver.
    assert moves.max() < 0.05 * np.sqrt(2 * Z)
    z0, z1 = chor.latents(5.0), chor.latents(5.5)
    moved = np.linalg.norm(z1 - z0, axis=1)
    assert moved.min() < 0.3 * moved.max()        # some tiles rest on a keyframe while others travel


@pytest.mark.parametrize("change", [
    {"mode": "unison"}, {"mode": "hold"}, {"mode": "wave", "source": (2, 3), "wave_start": 5.0}, {"seed": 99},
])
def test_changes_blend_and_never_cut(change):
    chor = Choreography(14, 14, Z, seed=1, keyframe_seconds=10, blend_seconds=4)
    before = steps(chor, np.arange(0, 5, 1 / 60)).max()
    chor.change(5.0, **change)
    during = steps(chor, np.arange(4.9, 10, 1 / 60)).max()
    assert during < 0.06 * np.sqrt(2 * Z)           # a cut would move a whole keyframe (~8) in one frame
    assert during < 4 * before


@pytest.mark.parametrize("first, second, transitions", [
    (tuple(range(196)), tuple(range(70, 84)), 1),     # every tile, then row 5: row 5's target changes mid-blend
    (tuple(range(14)), tuple(range(70, 84)), 2),      # row 0, then row 5: row 5 gets a blend of its own
])
def test_a_second_reseed_soon_after_the_first_never_cuts(first, second, transitions):
    """Just under RETARGET of the blend apart. A change to tiles the last one also moves retargets it (a pattern
    resent, a fader sweeping): the picture steps ease(RETARGET) of the way to the new target, far less than a cut.
    Other tiles start their own blend rather than join one part-way through."""
    chor = Choreography(14, 14, Z, seed=1, keyframe_seconds=10, blend_seconds=4)
    before = steps(chor, np.arange(0, 5, 1 / 60)).max()
    chor.change(5.0, tile=first, overrides=dict.fromkeys(first, 7))
    pressed = 5.0 + 4 * RETARGET - 0.01
    shown = chor.latents(pressed - 1 / 60)                 # the last frame before the second press
    chor.change(pressed, tile=second, overrides={**chor.spec.overrides, **dict.fromkeys(second, 8)})
    assert len(chor._stack) == 1 + transitions
    step = np.linalg.norm(chor.latents(pressed) - shown, axis=1).max()
    later = steps(chor, np.arange(pressed, 10, 1 / 60)).max()
    assert max(step, later) < 0.06 * np.sqrt(2 * Z)         # a cut would move a whole keyframe (~8) in one frame
    if transitions == 2:
        assert step < 4 * before, "a row that joined a blend part-way would jump"
    walk = chor._path(chor.spec, 10.0, np.arange(196))
    assert np.array_equal(chor.latents(10.0), walk), "both reseeds arrived"


def test_unison_brings_tiles_together_and_hold_freezes():
    chor = Choreography(14, 14, Z, seed=1, keyframe_seconds=10, blend_seconds=2)
    spread = lambda t: chor.latents(t).std(axis=0).mean()   # noqa: E731
    assert spread(1.0) > 0.8
    chor.change(1.0, mode="unison")
    assert spread(4.0) < 0.2 * spread(1.0)
    chor.change(5.0, mode="hold")
    assert np.array_equal(chor.latents(8.0), chor.latents(30.0))


def test_wave_spreads_from_its_source_with_a_delay():
    chor = Choreography(14, 14, Z, seed=1, keyframe_seconds=10, blend_seconds=0, wave_delay=0.5)
    chor.change(0.0, mode="wave", source=(0, 0), wave_start=0.0)
    source, three_away = 0, 3 * 14            # (0, 0) and (3, 0)
    later = chor.latents(7.5, [three_away])
    assert np.allclose(chor.latents(6.0, [source]), later, atol=1e-5)


def test_a_flood_of_changes_stays_bounded():
    chor = Choreography(14, 14, Z, seed=1)
    for i in range(5000):
        chor.change(i * 0.001, tile=i % 196, overrides={i % 196: i})
        chor.change(i * 0.001, source=(i % 14, 0))
    assert len(chor._stack) <= 513
    assert np.isfinite(chor.latents(6.0)).all()


def by_definition(chor, t, tiles):
    """Each tile's latent as the choreography defines it: its first walk, slerped toward every later transition
    that covers it by that transition's weight at t. No shortcut."""
    out = []
    for tile in tiles:
        z = chor._path(chor._stack[0][1], t, [tile])
        for start, spec, covers in chor._stack[1:]:
            weight = chor._weight(t, start)
            if weight > 0 and (covers is None or tile in np.atleast_1d(covers)):
                z = model.slerp(z, chor._path(spec, t, [tile]), weight)
        out.append(z[0])
    return np.array(out)


def test_latents_follow_the_definition_and_forgetting_old_transitions_changes_nothing():
    rng = np.random.default_rng(5)
    chor = Choreography(6, 7, Z, seed=2, keyframe_seconds=4, blend_seconds=2)
    keeps_all = Choreography(6, 7, Z, seed=2, keyframe_seconds=4, blend_seconds=2)
    keeps_all._prune = lambda t: None                 # the reference never forgets a transition
    t = 0.0
    for step in range(300):
        t += float(rng.choice([0.05, 0.3, 1.0, 4.0]))
        group = tuple(sorted(rng.choice(42, rng.integers(1, 42), replace=False).tolist()))
        for each in (chor, keeps_all):
            match step % 5:
                case 0 | 1:
                    each.change(t, tile=group, overrides={**each.spec.overrides, **dict.fromkeys(group, step)})
                case 2:
                    each.change(t, tile=int(group[0]), overrides={**each.spec.overrides, int(group[0]): step})
                case 3:
                    each.hold_tile(t, step % 42, step % 3 != 0)
                case 4:
                    each.change(t, mode=["drift", "unison", "wave", "hold"][step // 5 % 4], wave_start=t)
        for q in (t, t + 0.7, t + 3.0):
            assert np.array_equal(chor.latents(q), keeps_all.latents(q)), f"step {step}: forgetting changed a tile"
        if step % 25 == 0:
            tiles = [0, 9, 41]
            assert np.allclose(chor.latents(t + 0.7, tiles), by_definition(chor, t + 0.7, tiles), atol=1e-5)
    assert len(chor._stack) < len(keeps_all._stack) / 3


def test_a_flood_of_group_reseeds_keeps_the_work_to_the_blends_still_running():
    """bench --osc's flood: every tile reseeded 100 times a second, four of them also about 6 times a second."""
    blend = 5.0
    chor = Choreography(14, 14, Z, seed=1, blend_seconds=blend)
    every, four = tuple(range(196)), (10, 11, 12, 13)
    for step in range(6000):                           # 60 s of show time
        t = step / 100
        chor.change(t, tile=every, overrides={**chor.spec.overrides, **dict.fromkeys(every, step)})
        if step % 17 == 0:
            chor.change(t, tile=four, overrides={**chor.spec.overrides, **dict.fromkeys(four, -step)})
    chor.change(59.995, tile=four, overrides={**chor.spec.overrides, **dict.fromkeys(four, -1)})
    paths = []
    walk = chor._path
    chor._path = lambda spec, t, tiles: paths.append(spec) or walk(spec, t, tiles)
    z = chor.latents(60.0, np.arange(49))
    # A change within RETARGET of a blend of the last one retargets it: at most 1 / RETARGET blends run at once,
    # plus the walk they start from. Before, the two groups stacked a transition each time and every one was walked.
    assert len(paths) <= 1 / RETARGET + 1
    assert len(chor._stack) <= (blend + 30.0) / (blend * RETARGET) + 2
    # Both kinds of reseed took effect: once the blends end, each tile walks its own newest seed.
    settled = chor.latents(60.0 + blend + 1.0)
    spec = chor.spec
    assert spec.overrides[0] == 5999 and spec.overrides[10] == -1
    assert np.array_equal(settled, chor._path(spec, 60.0 + blend + 1.0, np.arange(196)))
    assert np.isfinite(z).all()


def make_show(**show):
    cfg = config.load(overrides={"show": {"fade_in": 0.0, **show}})
    return Show(cfg, Z, seed=3)


def test_pause_freezes_show_time_but_light_still_moves():
    show = make_show()
    show.update(1.0)
    show.apply(c.Pause())
    show.update(3.0)                   # speed glides to zero: a little further, then stop
    frozen = show.time
    show.apply(c.SetBlackout(1.0))
    show.update(5.0)
    assert show.time == frozen and show.light() == 0.0
    show.apply(c.Resume())
    show.apply(c.SetBlackout(0.0))
    show.update(8.0)
    assert show.time > frozen + 2.0 and show.light() > 0.99


def test_show_time_is_the_same_at_any_frame_rate():
    def run(fps):
        show = make_show(speed=1.0)
        for n in range(1, 10 * fps + 1):
            show.update(n / fps)
            if n == 3 * fps:                    # commands arrive at the same moments in both runs
                show.apply(c.SetSpeed(4.0))
            if n == 6 * fps:
                show.apply(c.SetPsi(0.2))
        return show.time, show.psi_now
    (t24, psi24), (t144, psi144) = run(24), run(144)
    assert t24 == pytest.approx(t144, abs=1e-6) and psi24 == pytest.approx(psi144, abs=1e-6)


def test_commands_outside_the_grid_are_rejected_not_applied():
    show = make_show()
    with pytest.raises(c.CommandError, match="outside"):
        show.apply(c.ReseedTile(196))
    with pytest.raises(c.CommandError, match="outside"):
        show.apply(c.StartWave(14, 0))
    assert show.apply(c.StartWave(13, 13)) and show.mode == "wave"


def test_seedless_reseed_is_reproducible():
    a, b = make_show(), make_show()
    a.apply(c.Reseed())
    b.apply(c.Reseed())
    assert a.seed == b.seed != 3
    assert a.snapshot()["seed"] == a.seed


def test_speed_keys_walk_a_ladder():
    show = make_show(speed=1.0)
    show.apply(c.NudgeSpeed(1))
    assert show.speed == 1.5
    show.apply(c.NudgeSpeed(-100 // 10))
    assert show.speed == 0.0
    show.apply(c.CycleMode())
    assert show.mode == "wave"
