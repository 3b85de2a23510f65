package io.nemu.vmm.hotplug;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.vmm.QemuCommandLine;
import io.nemu.vmm.process.ProcessTools;
import io.nemu.vmm.qmp.QmpClient;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Against a real QEMU with the device as the runtime adds it and no guest (-S): the request reaches the device, and
 * with no driver to plug blocks nothing is plugged when the wait ends. A guest plugging them is e2e's
 * (HotplugCriTest with virtio-mem, bench-hotplug.sh).
 */
@Tag("system")
class VirtioMemHotplugTest {
    @TempDir
    Path tmp;

    @Test
    void aRequestReachesTheDeviceAndNothingIsPluggedWithoutAGuest() throws Exception {
        Path socket = tmp.resolve("qmp.sock");
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/qemu-system-x86_64", "-machine", "q35", "-accel", "tcg",
                "-nodefaults", "-no-user-config", "-display", "none", "-S", "-m", "128M,slots=0,maxmem=640M",
                "-qmp", "unix:" + socket + ",server=on,wait=off"));
        cmd.addAll(QemuCommandLine.virtioMemArgs(512));
        Process qemu = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("qemu.log").toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Files.exists(socket)) {
                assertTrue(qemu.isAlive(), "QEMU exited: " + ProcessTools.tail(tmp.resolve("qemu.log"), 5));
                assertTrue(System.nanoTime() < deadline, "no QMP socket");
                Thread.sleep(10);
            }
            try (QmpClient c = QmpClient.connect(socket, Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS)) {
                VirtioMemHotplug vmem = new VirtioMemHotplug(c, 512);
                assertEquals(0, vmem.pluggedMib());
                assertEquals(0, vmem.resize(256, Duration.ofMillis(200)), "no guest driver: nothing plugged");
                assertEquals(256, vmem.requestedMib());
                HotplugException big = assertThrows(HotplugException.class, () -> vmem.resize(514, Duration.ZERO));
                assertTrue(big.getMessage().contains("holds 512 MiB"), big.getMessage());
                assertThrows(IllegalArgumentException.class, () -> vmem.resize(3, Duration.ZERO));
                assertEquals(256, vmem.requestedMib(), "a refused request changes nothing");
                assertEquals(4, VirtioMemHotplug.roundUp(3));
            }
        } finally {
            ProcessTools.kill(qemu);
        }
    }
}
