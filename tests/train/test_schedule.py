"""The time limit's plan (``TimeBudget``) on a fake clock: fast steps are measured over MEASURE steps, slow ones over
about a minute, and the deadline stops a run whatever the plan."""

from diss.train.schedule import TimeBudget


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(budget: TimeBudget, clock: Clock, seconds_per_step: float, steps: int, every: int = 50):
    """Steps 1 … ``steps`` as the training loop takes them: (step, new max_steps) where a plan or a stop came."""
    decisions, max_steps = [], 1_000_000
    for step in range(1, steps + 1):
        clock.now += seconds_per_step
        budget.tick(step)
        if budget.due(step, every):
            new_max = budget.decide(step, max_steps)
            if new_max is not None and new_max < max_steps:
                decisions.append((step, new_max))
                max_steps = new_max
        if step >= max_steps:
            break
    return decisions


def test_fast_steps_are_planned_after_the_measuring_window_to_end_in_time():
    clock = Clock()
    budget = TimeBudget(10.0, 0, 0.0, clock=clock)  # 10 minutes; 0.5 s a step: about 1,200 steps fit
    (step, plan), *rest = run(budget, clock, 0.5, 5_000)
    assert step == TimeBudget.WARM + TimeBudget.MEASURE
    assert 0.5 * plan + 15.0 + 0.05 * 600 <= 600  # its steps, the final save and the export end by the deadline
    assert plan > 0.8 * (600 - 45) / 0.5  # and it uses most of the time
    assert rest == []  # one plan, kept


def test_slow_steps_are_planned_within_about_a_minute_not_after_fifty_steps():
    clock = Clock()
    budget = TimeBudget(14.0, 0, 0.0, clock=clock)  # a 13 s distillation step on a CPU: 50 steps would take 11 min
    decisions = run(budget, clock, 13.0, 200)
    step, plan = decisions[0]
    assert step == TimeBudget.WARM + TimeBudget.EVERY  # 65 s measured
    assert 13.0 * step < 4 * 60  # planned within 4 minutes of the start
    assert 13.0 * plan <= 14 * 60 and plan >= step  # and the plan fits the time limit


def test_due_steps_do_not_depend_on_the_clock_and_the_deadline_stops_the_run():
    slow, fast = Clock(), Clock()
    a, b = TimeBudget(1.0, 100, 0.0, clock=slow), TimeBudget(1.0, 100, 0.0, clock=fast)
    assert [s for s in range(100, 400) if a.due(s, 50)] == [s for s in range(100, 400) if b.due(s, 50)]
    assert not TimeBudget(None, 0, 0.0).due(60, 50)  # no time limit: nothing to decide
    clock = Clock()
    late = TimeBudget(1.0, 0, 0.0, clock=clock)
    clock.now = 61.0
    assert late.decide(150, 1_000) == 150  # past the deadline: stop here
