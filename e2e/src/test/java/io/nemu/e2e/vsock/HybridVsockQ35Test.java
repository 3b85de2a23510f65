package io.nemu.e2e.vsock;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.firmware.GuestImage;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The hybrid vsock channel on the q35 profile (vhost-user-vsock-pci), with a real guest under TCG. */
@Tag("system")
class HybridVsockQ35Test {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path tmp;

    @Test
    void echoOnQ35() throws Exception {
        LEFTOVERS.dir(tmp);
        GuestImage image = GuestImages.vsockGuest();
        VmConfig config = VmConfig.builder().profile(MachineProfile.virtHotplug()).kernel(image.kernel())
                .initrd(image.initrd()).accelerator(Accelerator.TCG).vcpus(2).memoryMib(512)
                .agentTransport(AgentTransport.VSOCK).agentPort(GuestContract.AGENT_VSOCK_PORT).runDir(tmp.resolve("run")).startTimeout(Duration.ofSeconds(30))
                .build();
        try (Vm vm = new Vm(config)) {
            vm.start();
            vm.waitForConsoleLine(Pattern.compile("VSOCK-ECHO-READY"), Duration.ofSeconds(90));
            assertEquals("vsock", vm.agentChannel().orElseThrow().kind(), "VSOCK on a host without /dev/vhost-vsock");
            try (SocketChannel c = vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(10))) {
                c.write(ByteBuffer.wrap("q35 ping\n".getBytes(StandardCharsets.US_ASCII)));
                assertEquals("q35 ping", HybridVsockTest.readLine(c));
                byte[][] d = HybridVsockTest.echoStream(c, 8L << 20, 9, null);
                assertArrayEquals(d[0], d[1]);
            }
            vm.stop(Duration.ofSeconds(10));
            vm.exitFuture().get(10, TimeUnit.SECONDS);
        }
        assertEquals(false, Files.exists(tmp.resolve("run/vsock")), "hybrid socket removed after stop");
    }
}
