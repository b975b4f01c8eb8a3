# Tests that ctest -j must not run beside each other (read by ctest after the discovered tests;
# they are named in full: renaming one of them means renaming it here too;
# a test waiting for a lock leaves its slot to others).
# - ssh_machines: the ssh tests' machines are netns hosts of this one machine, with its /tmp and
#   process table; two pools at once (the order CI runs them in, without cost data) made ssh
#   calls take seconds — a fault applied 2.9 s late, a restarted agent's clean-up 8 s.
# - bisection: each step measures a 2 ms latency step to a few percent; two bisections measuring
#   at once on two cores are each other's noise. Their timeout is 600 s (not the suite's 300): on
#   a machine whose neighbour tests load it (a fresh-machine run beside the forge tests), steps
#   stay undecided at 6 repetitions and are measured again at 12, which took the 16-commit one
#   from 150 s to 250 s.
set_tests_properties(
  BenchmarkTest.AStackRunsOnSshHostsFromACopyOfTheBuildAndLeavesNothing
  BenchmarkTest.AnAgentKilledMidJobLeavesNothingOnItsSshHostsOnceRestarted
  BenchmarkTest.SshHostsRefuseBadPoolsAndNetworkFaults
  PROPERTIES RESOURCE_LOCK ssh_machines)
set_tests_properties(
  BisectTest.SixteenCommitsNarrowToTheOneThatAddedCpuWorkAndTheBrokenBuildIsSkipped
  BisectTest.AChangePointOnMainIsBisectedOnItsOwnAndASpreadChangeIsReportedAsARange
  PROPERTIES RESOURCE_LOCK bisection TIMEOUT 600)
