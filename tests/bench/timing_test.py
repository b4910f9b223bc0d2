import pytest

from keras_sam_bench import timing


def test_step_timer_leaves_out_the_first_execution_of_each_epoch(monkeypatch):
    clock = iter([
        # epoch 1: first execution (with tracing) ends at 10 s, then 3 more of 8 steps
        10.0, 10.8, 11.6, 12.4,
        # epoch 2: first execution ends at 20 s, then 2 more
        20.0, 20.8, 21.6,
    ])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer = timing.StepTimer()
    for epoch, ends in enumerate(([7, 15, 23, 31], [7, 15, 23])):
        timer.on_epoch_begin(epoch)
        for end in ends:
            timer.on_train_batch_end(end)
        timer.on_epoch_end(epoch)
    assert timer.steps == 24 + 16
    assert timer.seconds_per_step() == pytest.approx(0.1)


def test_step_timer_falls_back_when_nothing_was_timed():
    timer = timing.StepTimer()
    timer.set_params({"steps": 4})
    timer.on_epoch_begin(0)
    timer.on_train_batch_end(3)  # one execution for the whole epoch
    timer.on_epoch_end(0)
    assert timer.seconds_per_step(2.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="No steady-state step"):
        timer.seconds_per_step()
