package io.nemu.e2e.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.firmware.GuestImage;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.ChildProcesses;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.VmConfigException;
import io.nemu.vmm.VmException;
import io.nemu.vmm.qmp.QmpEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Boots the real guest image under TCG on both machine profiles: ready line, a file the guest writes
 * into the virtio-fs share, QMP status, ACPI power-off with QEMU leaving by itself, nothing left over.
 */
@Tag("system")
class BootTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();
    private static GuestImage image;

    @TempDir
    Path tmp;
    private final ChildProcesses tracker = new ChildProcesses();

    @BeforeAll
    static void image() throws Exception {
        image = GuestImages.base();
    }

    @AfterEach
    void nothingLeft() throws Exception {
        LEFTOVERS.dir(tmp);
        tracker.assertNoneLeft();
    }

    private VmConfig.Builder config(MachineProfile profile, Path share) {
        VmConfig.Builder b = VmConfig.builder().profile(profile).kernel(image.kernel()).initrd(image.initrd())
                .kernelArg("nemu.fsprobe=1").accelerator(Accelerator.TCG).vcpus(1).memoryMib(512)
                .sharedDir(share).sharedTag(GuestContract.SHARED_FS_TAG).agentTransport(AgentTransport.SERIAL).runDir(tmp.resolve("run"))
                .startTimeout(Duration.ofSeconds(30));
        if (profile.hotplug()) {
            b.maxVcpus(2).memorySlots(1).maxMemoryMib(1024).pciRootPorts(1);
        }
        return b;
    }

    @ParameterizedTest
    @ValueSource(strings = {"virt", "virt-hotplug"})
    void bootsSharesAndPowersOff(String profileName) throws Exception {
        Path share = Files.createDirectories(tmp.resolve("share"));
        Vm vm = new Vm(config(MachineProfile.byName(profileName), share).build(), tracker);
        try {
            long t0 = System.nanoTime();
            vm.start();
            String ready = vm.waitForConsoleLine(Pattern.compile(Pattern.quote(image.readyLine())),
                    Duration.ofSeconds(90));
            long readyMs = (System.nanoTime() - t0) / 1_000_000;
            System.out.printf("%s: ready in %d ms: %s%n", profileName, readyMs, ready);
            vm.waitForConsoleLine(Pattern.compile(Pattern.quote(GuestImage.FSPROBE_MARKER)), Duration.ofSeconds(60));

            Path probe = share.resolve("fsprobe");
            assertTrue(Files.exists(probe), "guest wrote no fsprobe file into the share");
            String content = Files.readString(probe).trim();
            assertTrue(content.startsWith("nemu-fsprobe " + image.kernelRelease() + " "), content);
            assertTrue(content.split(" ").length == 3 && content.split(" ")[2].length() >= 32, content);

            assertEquals("running", vm.qmp().queryStatus().get(5, TimeUnit.SECONDS));

            // ACPI power button: the guest powers off and QEMU leaves by itself.
            CompletableFuture<QmpEvent> shutdown = vm.qmp().nextEvent("SHUTDOWN");
            vm.qmp().systemPowerdown().get(5, TimeUnit.SECONDS);
            int code = vm.exitFuture().get(60, TimeUnit.SECONDS);
            assertEquals(0, code);
            assertEquals("guest-shutdown", shutdown.get(5, TimeUnit.SECONDS).data().path("reason").asText());
            assertTrue(vm.state() instanceof Vm.State.Stopped, vm.state().toString());
            assertFalse(Files.exists(vm.paths().qmpSocket()));
            assertFalse(Files.exists(vm.paths().virtiofsdSocket()));
            assertFalse(vm.virtiofsdPid().stream().mapToObj(ProcessHandle::of)
                    .anyMatch(h -> h.map(ProcessHandle::isAlive).orElse(false)), "virtiofsd still running");
        } finally {
            vm.stop(Duration.ZERO);
        }
    }

    @Test
    void unreadableInitrdIsNamed() throws Exception {
        Path share = Files.createDirectories(tmp.resolve("share"));
        // A folder where the initrd should be: cannot be read as a file, even by root.
        Path notAFile = Files.createDirectories(tmp.resolve("initramfs.img"));
        Vm vm = new Vm(config(MachineProfile.virt(), share).initrd(notAFile).build(), tracker);
        VmConfigException e = assertThrows(VmConfigException.class, vm::start);
        System.out.println("initrd is a folder -> " + e.getMessage());
        assertEquals("initrd", e.field());
        assertTrue(e.getMessage().contains(notAFile.toString()));
        assertTrue(tracker.pids().isEmpty(), "nothing may start: " + tracker.pids());

        Path missing = tmp.resolve("gone.img");
        e = assertThrows(VmConfigException.class,
                () -> new Vm(config(MachineProfile.virt(), share).initrd(missing).build(), tracker).start());
        assertEquals("initrd", e.field());
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void corruptInitrdEndsInAClearBootFailure() throws Exception {
        Path share = Files.createDirectories(tmp.resolve("share"));
        byte[] junk = new byte[64 * 1024];
        new java.util.Random(7).nextBytes(junk);
        Path bad = Files.write(tmp.resolve("junk.img"), junk);
        Vm vm = new Vm(config(MachineProfile.virt(), share).initrd(bad).build(), tracker);
        try {
            vm.start();
            VmException e = assertThrows(VmException.class, () -> vm.waitForConsoleLine(
                    Pattern.compile(Pattern.quote(image.readyLine())), Duration.ofSeconds(90)));
            System.out.println("corrupt initrd -> " + e.getMessage());
            assertTrue(e.getMessage().contains("QEMU exited"), e.getMessage());
            assertTrue(e.getMessage().contains("Kernel panic") || e.getMessage().contains("initramfs"),
                    e.getMessage());
        } finally {
            vm.stop(Duration.ZERO);
        }
    }
}
