package io.nemu.e2e.agent;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.QemuMemory;
import io.nemu.firmware.GuestImage;
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
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Host RSS of QEMU for a guest running the agent (512 MiB, the shim's default), with and without the
 * virtio-balloon free page reporting: /init unpacks the initramfs and copies the root into a tmpfs, so the
 * guest touches most of its RAM while booting; with reporting, what it freed afterwards must come back to the
 * host although guest RAM is a shared memfd (QEMU punches holes into it).
 */
@Tag("system")
class FreePageReportingTest {
    /** Guest reports free blocks ~2 s after they are freed; TCG is slow, so give it more. */
    private static final Duration SETTLE = Duration.ofSeconds(15);
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path tmp;
    private final ChildProcesses children = new ChildProcesses();

    @AfterEach
    void nothingLeft() throws Exception {
        children.assertNoneLeft();
    }

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES) // three guests booted one after the other, each up to 180 s
    void reportedFreePagesLeaveQemu() throws Exception {
        LEFTOVERS.dir(tmp);
        GuestImage image = GuestImages.withAgent();
        QemuMemory off = boot(image, MachineProfile.virt(), false);
        QemuMemory on = boot(image, MachineProfile.virt(), true);
        QemuMemory q35 = boot(image, MachineProfile.virtHotplug(), true);
        System.out.printf("FIGURE virt, no balloon: %s%nFIGURE virt, free page reporting: %s%n"
                + "FIGURE virt-hotplug, free page reporting: %s%n", off, on, q35);
        // Guest RAM is the memfd (RSS's shmem part; the rest is QEMU's own, mostly TCG's code buffer). The
        // boot frees the compressed initrd and the unpacked initramfs (~130 MiB) once the root is in the
        // tmpfs: most of that must be back on the host.
        assertTrue(on.shmemKib() < off.shmemKib() - 64 * 1024, "virt: " + on + " is not well below " + off);
        assertTrue(q35.shmemKib() < off.shmemKib() - 64 * 1024, "virt-hotplug: " + q35 + " is not well below " + off);
    }

    private QemuMemory boot(GuestImage image, MachineProfile profile, boolean reporting) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(profile.name() + "-" + reporting));
        Path share = Files.createDirectories(dir.resolve("share"));
        VmConfig.Builder b = VmConfig.builder().profile(profile).kernel(image.kernel()).initrd(image.initrd())
                .accelerator(Accelerator.TCG).vcpus(1).memoryMib(512).sharedDir(share).sharedTag(GuestContract.SHARED_FS_TAG)
                .agentTransport(AgentTransport.SERIAL).runDir(dir.resolve("run")).startTimeout(Duration.ofSeconds(30))
                .freePageReporting(reporting);
        Vm vm = new Vm(b.build(), children);
        try {
            vm.start();
            vm.waitForConsoleLine(Pattern.compile("nemu-agent .* agent ready: "), Duration.ofSeconds(180));
            Thread.sleep(SETTLE.toMillis());
            QemuMemory r = QemuMemory.of(vm.pid());
            System.out.printf("%s reporting=%s: %s%n", profile.name(), reporting, r);
            return r;
        } finally {
            vm.stop(Duration.ZERO);
        }
    }
}
