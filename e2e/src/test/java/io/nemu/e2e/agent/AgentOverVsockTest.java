package io.nemu.e2e.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.firmware.GuestImage;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.VersionCheckResponse;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.ChildProcesses;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The guest agent on AF_VSOCK port 1024, reached from the host through the in-process vhost-user-vsock
 * backend's hybrid socket ({@code CONNECT 1024}): the path the shim takes on hosts without /dev/vhost-vsock.
 */
@Tag("system")
class AgentOverVsockTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path tmp;

    @Test
    void agentAnswersHealthThroughTheHybridVsockSocket() throws Exception {
        GuestImage image = GuestImages.withAgent();
        LEFTOVERS.dir(tmp);
        Path share = Files.createDirectories(tmp.resolve("share"));
        VmConfig cfg = VmConfig.builder().profile(MachineProfile.virt()).kernel(image.kernel())
                .initrd(image.initrd()).accelerator(Accelerator.TCG).vcpus(2).memoryMib(512).sharedDir(share).sharedTag(GuestContract.SHARED_FS_TAG)
                .agentTransport(AgentTransport.HYBRID_VSOCK).agentPort(GuestContract.AGENT_VSOCK_PORT).runDir(tmp.resolve("run"))
                .startTimeout(Duration.ofSeconds(30)).build();
        ChildProcesses children = new ChildProcesses();
        Vm vm = new Vm(cfg, children);
        try {
            long t0 = System.nanoTime();
            vm.start();
            // Two connections in turn: each CONNECT is a new guest vsock stream to the agent.
            for (int i = 0; i < 2; i++) {
                try (TtrpcClient client = TtrpcClient.adopt(vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(150)))) {
                    HealthCheckResponse h = HealthGrpc.newBlockingStub(client)
                            .withDeadlineAfter(150, TimeUnit.SECONDS).check(CheckRequest.getDefaultInstance());
                    assertEquals(HealthCheckResponse.ServingStatus.SERVING, h.getStatus());
                    VersionCheckResponse v = HealthGrpc.newBlockingStub(client)
                            .withDeadlineAfter(30, TimeUnit.SECONDS).version(CheckRequest.getDefaultInstance());
                    assertFalse(v.getAgentVersion().isBlank(), v.toString());
                    if (i == 0) {
                        System.out.printf("FIGURE QEMU start -> agent answers Health over hybrid vsock %d ms%n",
                                (System.nanoTime() - t0) / 1_000_000);
                    }
                }
            }
        } finally {
            vm.stop(Duration.ofSeconds(15));
            children.assertNoneLeft();
        }
    }
}
