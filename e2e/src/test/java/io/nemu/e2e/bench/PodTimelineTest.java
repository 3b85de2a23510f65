package io.nemu.e2e.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class PodTimelineTest {
    @Test
    void stepsComeFromContainerdsAndTheShimsLinesOfThatPodOnly() {
        List<String> log = List.of(
                "time=\"2026-12-04T10:07:48.700000000Z\" level=info msg=\"RunPodSandbox for &PodSandboxMetadata{Name:other-1,Uid:x,}\"",
                "time=\"2026-12-04T10:07:48.776222056Z\" level=info msg=\"RunPodSandbox for &PodSandboxMetadata{Name:tplb-1,Uid:x,}\"",
                "2026-12-04T10:07:50.862Z INFO  sandbox=bbbb SandboxTasks: creating sandbox bbbb",
                "2026-12-04T10:07:50.900Z INFO  sandbox=aaaa SandboxTasks: creating sandbox aaaa",
                "2026-12-04T10:07:53.821Z INFO  sandbox=aaaa VmSandbox: sandbox aaaa ready: agent answered 2081 ms after QEMU started",
                "time=\"2026-12-04T10:07:55.712011861Z\" level=info msg=\"RunPodSandbox for &PodSandboxMetadata{Name:tplb-1,Uid:x,}"
                        + " returns sandbox id \\\"aaaa\\\"\"",
                "time=\"2026-12-04T10:07:55.730491134Z\" level=info msg=\"StartContainer for \\\"cccc\\\"\"",
                "time=\"2026-12-04T10:07:56.635618703Z\" level=info msg=\"StartContainer for \\\"cccc\\\" returns successfully\"");
        PodTimeline t = PodTimeline.of("aaaa", "cccc", "tplb-1", log);
        assertEquals(List.of("RunPodSandbox called", "the shim daemon creates the sandbox (CNI and the shim's start before)",
                "sandbox ready: shared folder mounted, CreateSandbox done",
                "RunPodSandbox returned: pause container created and started in the guest", "StartContainer called",
                "container running: created and started in the guest"),
                t.steps().stream().map(PodTimeline.Step::what).toList());
        assertEquals(2123, Duration.between(t.steps().get(0).at(), t.steps().get(1).at()).toMillis());
        assertEquals(7859, Duration.between(t.steps().get(0).at(), t.steps().get(5).at()).toMillis());
    }
}
