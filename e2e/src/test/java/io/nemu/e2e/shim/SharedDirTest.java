package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.firmware.GuestImage;
import io.nemu.shim.mount.Mounts;
import io.nemu.shim.sandbox.SharedFs;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A container rootfs mounted into the shared folder after the VM started must reach virtiofsd, which
 * by then lives in its own mount namespace: a real QEMU and virtiofsd, checked in virtiofsd's mountinfo.
 */
@Tag("system")
class SharedDirTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @Test
    void mountsMadeAfterBootReachVirtiofsd() throws Exception {
        GuestImage img = GuestImages.assumeOfDistribution(Distribution.locate(), false);
        Path base = LEFTOVERS.gone(LEFTOVERS.dir(Files.createTempDirectory(Path.of("/run"), "nemu-shared-")));
        Path shared = base.resolve("shared");
        Path source = base.resolve("source");
        Files.createDirectories(source);
        Files.writeString(source.resolve("probe"), "x");
        try {
            SharedFs.prepare(shared);
            try (Vm vm = new Vm(VmConfig.builder().profile(MachineProfile.virt()).kernel(img.kernel())
                    .initrd(img.initrd()).sharedDir(shared).sharedTag(GuestContract.SHARED_FS_TAG).runDir(base.resolve("vm")).accelerator(Accelerator.AUTO)
                    .build())) {
                vm.start();
                vm.waitForConsoleLine(Pattern.compile(Pattern.quote(img.readyLine())), Duration.ofSeconds(120));
                long vfs = vm.virtiofsdPid().orElseThrow();
                Path target = shared.resolve("c1/rootfs");
                Files.createDirectories(target);
                Mounts.mount(List.of("--bind", source.toString(), target.toString()));
                // virtiofsd runs its worker in a child (or itself) with its own namespace: look at every process of it.
                String ns = Files.readSymbolicLink(Path.of("/proc/" + vfs + "/ns/mnt")).toString();
                assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/mnt")).toString(), ns,
                        "virtiofsd should have its own mount namespace once QEMU connected");
                String mountinfo = "";
                for (int i = 0; i < 50 && !mountinfo.contains("/c1/rootfs"); i++) {
                    Thread.sleep(100);
                    mountinfo = Files.readString(Path.of("/proc/" + vfs + "/mountinfo"));
                }
                assertTrue(mountinfo.contains("/c1/rootfs"), "virtiofsd does not see the rootfs mount:\n" + mountinfo);
            }
        } finally {
            FileTrees.unmountUnder(base);
            FileTrees.delete(base);
        }
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(base.toString()), "mounts left");
        assertEquals(false, Files.exists(base));
    }
}
