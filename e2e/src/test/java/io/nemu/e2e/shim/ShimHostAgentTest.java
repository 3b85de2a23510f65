package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.e2e.support.HostAgent;
import io.nemu.e2e.support.NemuCommand;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.shim.daemon.ShimDaemon;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The shim's scenarios with everything real but the agent: a {@link HostAgent} on the host stands in for the
 * guest's, reached through the shim daemon's test hook NEMU_TEST_AGENT_SOCKET (set in containerd's
 * environment, which its shims inherit; no configuration.toml can name it), and runs each process chrooted
 * into the rootfs the shim shared. Its call log shows what the shim asked of the agent.
 */
class ShimHostAgentTest extends ShimScenarios {
    private static final Duration RUN = Duration.ofSeconds(120);

    private HostAgent agent;
    private Path socket;

    @Override
    boolean agentInGuest() {
        return false;
    }

    @Override
    Duration ctrTimeout() {
        return RUN;
    }

    @Override
    String startAgent() throws IOException {
        socket = work.resolve("agent.sock");
        agent = new HostAgent(socket);
        return "dial_timeout = 20";
    }

    @Override
    void configure(Containerd.Builder containerd) {
        containerd.env(ShimDaemon.ENV_TEST_AGENT_SOCKET, socket.toString());
    }

    @Override
    void stopAgent() {
        if (agent != null) {
            agent.close();
        }
    }

    @Override
    String id(String name) {
        return "h-" + name;
    }

    @Override
    void assertKernel(String release) throws IOException {
        assertEquals(hostKernel(), release, "the stand-in runs the process on the host");
    }

    @Override
    void afterEchoRun(String id) {
        assertTrue(agent.calls.stream().anyMatch(c -> c.startsWith("CreateSandbox " + id + " virtio-fs:kataShared")),
                agent.calls::toString);
        assertTrue(agent.calls.contains("DestroySandbox"), agent.calls::toString);
    }

    @Override
    void whileDetachedRuns(String id, ContainerdEvents events) {
        agent.oom(id);
        ContainerdEvents.Event oom = events.awaitTopic("/tasks/oom", Duration.ofSeconds(20));
        assertTrue(oom.json().contains("\"container_id\":\"" + id + "\""), oom.line());
        // debug_console_enabled is off here: nemu exec refuses, naming the key.
        try {
            NemuCommand.Result r = NemuCommand.run(dist, Duration.ofSeconds(60), "exec", id, "uname", "-r");
            assertEquals(1, r.exitCode(), r.stdout());
            assertTrue(r.stderr().contains("the debug console of sandbox " + id + " is off")
                    && r.stderr().contains("debug_console_enabled = true under [agent.kata]"), r.stderr());
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aContainerJoinsItsPodsSandbox() throws Exception {
        String pod = sandbox("pod");
        ctr(run("-d", "--annotation", "io.kubernetes.cri.container-type=sandbox", "--rootfs", rootfs().toString(),
                pod, "/bin/sleep", "600")).requireOk();
        List<ProcessHandle> daemons = containerd.shimProcesses();
        assertEquals(1, daemons.size(), daemons::toString);
        List<Long> vmProcesses = Sandboxes.vmProcesses(pod);
        Containerd.CtrResult joined = ctr(run("--rm", "--annotation", "io.kubernetes.cri.container-type=container",
                "--annotation", "io.kubernetes.cri.sandbox-id=" + pod, "--rootfs", rootfs().toString(), "c1",
                "/bin/echo", "joined"));
        assertEquals(0, joined.exitCode(), joined.stderr());
        assertEquals("joined", joined.stdout().strip());
        assertEquals(daemons.stream().map(ProcessHandle::pid).toList(),
                containerd.shimProcesses().stream().map(ProcessHandle::pid).toList(), "one daemon per pod");
        assertEquals(vmProcesses, Sandboxes.vmProcesses(pod), "the container ran in the pod's VM");
        assertTrue(agent.calls.contains("CreateContainer c1 /bin/echo joined"), agent.calls::toString);
        assertTrue(agent.calls.contains("RemoveContainer c1"), agent.calls::toString);
        assertFalse(Files.exists(SandboxPaths.of(pod).shared().resolve("c1")), "c1's rootfs left in the pod");
        containerd.killTask(pod, RUN);
        ctr(List.of("task", "rm", pod)).requireOk();
        ctr(List.of("c", "rm", pod)).requireOk();
        assertNothingLeft(pod);
    }
}
