package io.nemu.e2e.bench;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The steps of one CRI pod's start, read from containerd's log (its own lines and the shim's): when each step
 * was logged, from RunPodSandbox on. What a benchmark prints to show where a start goes.
 */
record PodTimeline(List<Step> steps) {
    private static final Pattern CONTAINERD_TIME = Pattern.compile("^time=\"([^\"]+)\"");
    private static final Pattern SHIM_TIME = Pattern.compile("^(\\d{4}-\\d\\d-\\d\\dT\\S+Z) ");

    record Step(String what, Instant at) {
    }

    private record Mark(String what, Predicate<String> line) {
    }

    static PodTimeline of(String podId, String containerId, String podName, List<String> log) {
        List<Mark> marks = List.of(
                new Mark("RunPodSandbox called", l -> l.contains("RunPodSandbox for &PodSandboxMetadata{Name:" + podName + ",")
                        && !l.contains("returns")),
                new Mark("the shim daemon creates the sandbox (CNI and the shim's start before)",
                        l -> l.contains("creating sandbox " + podId)),
                new Mark("pod network read, template chosen", l -> l.contains(podId + ": cloning template")),
                new Mark("QEMU up, state restored", l -> l.contains("VmSandbox: QEMU pid") && l.contains(podId)),
                new Mark("agent serving", l -> l.contains("agent of sandbox " + podId + " is serving")),
                new Mark("reseeded, clock set", l -> l.contains(podId + ": clone reseeded")),
                new Mark("guest network configured", l -> l.contains("guest network configured") && l.contains(podId)),
                new Mark("sandbox ready: shared folder mounted, CreateSandbox done",
                        l -> l.contains("sandbox " + podId + " ready")),
                new Mark("RunPodSandbox returned: pause container created and started in the guest",
                        l -> l.contains("RunPodSandbox for") && l.contains("returns sandbox id \\\"" + podId)),
                new Mark("StartContainer called", l -> l.contains("StartContainer for \\\"" + containerId + "\\\"")
                        && !l.contains("returns")),
                new Mark("container running: created and started in the guest",
                        l -> l.contains("StartContainer for \\\"" + containerId + "\\\" returns")));
        List<Step> steps = new ArrayList<>();
        for (Mark m : marks) {
            for (String l : log) {
                Instant at = time(l);
                if (at != null && m.line().test(l)) {
                    steps.add(new Step(m.what(), at));
                    break;
                }
            }
        }
        return new PodTimeline(steps);
    }

    private static Instant time(String line) {
        Matcher m = CONTAINERD_TIME.matcher(line);
        if (!m.find()) {
            m = SHIM_TIME.matcher(line);
            if (!m.find()) {
                return null;
            }
        }
        try {
            return Instant.parse(m.group(1));
        } catch (java.time.format.DateTimeParseException e) {
            return null;
        }
    }

    void print() {
        if (steps.isEmpty()) {
            System.out.println("  (no steps found in the log)");
            return;
        }
        Instant t0 = steps.get(0).at();
        Instant prev = t0;
        for (Step s : steps) {
            System.out.printf("  %6d ms (+%5d) %s%n", Duration.between(t0, s.at()).toMillis(),
                    Duration.between(prev, s.at()).toMillis(), s.what());
            prev = s.at();
        }
    }
}
