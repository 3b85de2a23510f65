package io.nemu.shim.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import com.google.protobuf.Any;
import io.grpc.Status;
import io.nemu.proto.containerd.runtimeoptions.v1.Options;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.sandbox.SandboxPaths;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The daemon's one resolution of the configuration for its sandbox, its debug switches and test hook. */
class ShimDaemonTest {
    @TempDir
    Path dir;

    private Path config(String name, int vcpus) throws Exception {
        return Files.writeString(dir.resolve(name), "[hypervisor.qemu]\nkernel = \"/g/vmlinux\"\n"
                + "initrd = \"/g/initramfs.img\"\ndefault_vcpus = " + vcpus + "\n");
    }

    private static Any options(Path configPath) {
        return Any.newBuilder().setTypeUrl("runtimeoptions.v1.Options")
                .setValue(Options.newBuilder().setConfigPath(configPath.toString()).build().toByteString()).build();
    }

    @Test
    void theCreatesRuntimeOptionsWinOverWhatStartLocated() throws Exception {
        Path located = config("located.toml", 1);
        Path fromOptions = config("options.toml", 2);
        assertEquals(1, ShimDaemon.resolveConfig(null, located.toString()).hypervisor().defaultVcpus());
        assertEquals(2, ShimDaemon.resolveConfig(options(fromOptions), located.toString()).hypervisor().defaultVcpus());
        assertEquals(fromOptions, ShimDaemon.resolveConfig(options(fromOptions), located.toString()).source());
    }

    @Test
    void aBadFileFailsTheCreateAsAnInvalidArgument() throws Exception {
        Path bad = config("bad.toml", 0);
        TaskException e = assertThrows(TaskException.class, () -> ShimDaemon.resolveConfig(null, bad.toString()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("default_vcpus"), e.getMessage());
    }

    @Test
    void runtimeOptionsOfAnUnknownTypeFailTheCreateNamingTheType() throws Exception {
        Path located = config("located.toml", 1);
        Any runc = Any.newBuilder().setTypeUrl("containerd.runc.v1.Options").build();
        TaskException e = assertThrows(TaskException.class, () -> ShimDaemon.resolveConfig(runc, located.toString()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("runtime options of type containerd.runc.v1.Options"), e.getMessage());
    }

    @Test
    void theTestAgentHookIsAnAbsolutePathFromTheEnvironment() {
        assertNull(ShimDaemon.testAgentSocket(Map.of()));
        assertEquals(Path.of("/tmp/a.sock"), ShimDaemon.testAgentSocket(Map.of("NEMU_TEST_AGENT_SOCKET", "/tmp/a.sock")));
        assertThrows(IllegalArgumentException.class,
                () -> ShimDaemon.testAgentSocket(Map.of("NEMU_TEST_AGENT_SOCKET", "a.sock")));
    }

    private static final List<String> LOGGERS = List.of(DebugLogs.RUNTIME, DebugLogs.HYPERVISOR);

    @AfterEach
    void resetLogLevels() {
        LOGGERS.forEach(n -> ((Logger) LoggerFactory.getLogger(n)).setLevel(null));
    }

    private static boolean debugOn(String logger) {
        return LoggerFactory.getLogger(logger).isDebugEnabled();
    }

    @Test
    void enableDebugTurnsOnTheDaemonsDebugLogs() throws Exception {
        String base = "[hypervisor.qemu]\nkernel = \"/g/vmlinux\"\ninitrd = \"/g/initramfs.img\"\n";
        DebugLogs.apply(ShimDaemon.resolveConfig(null, Files.writeString(dir.resolve("off.toml"), base).toString()));
        assertFalse(debugOn("io.nemu.shim.task.TaskService"));
        assertFalse(debugOn("io.nemu.vmm.Vm"));

        Path qemu = Files.writeString(dir.resolve("qemu.toml"), base + "enable_debug = true\n");
        DebugLogs.apply(ShimDaemon.resolveConfig(null, qemu.toString()));
        assertTrue(debugOn("io.nemu.vmm.qmp.QmpClient"), "[hypervisor.qemu] enable_debug: the VM's side");
        assertFalse(debugOn("io.nemu.shim.task.TaskService"));

        Path runtime = Files.writeString(dir.resolve("runtime.toml"), base + "[runtime]\nenable_debug = true\n");
        DebugLogs.apply(ShimDaemon.resolveConfig(null, runtime.toString()));
        assertTrue(debugOn("io.nemu.shim.task.TaskService"), "[runtime] enable_debug: everything");
        assertTrue(debugOn("io.nemu.ttrpc.TtrpcServer"));
        assertFalse(debugOn("io.netty.channel.Channel"), "the libraries stay quiet");
    }

    @Test
    void aWrongTypedSpecFailsTheSandboxBeforeAnythingStarts() throws Exception {
        Path cfg = Files.writeString(dir.resolve("debug.toml"), "[hypervisor.qemu]\nkernel = \"/g/vmlinux\"\n"
                + "initrd = \"/g/initramfs.img\"\n[runtime]\nenable_debug = true\n");
        SandboxPaths paths = new SandboxPaths(dir.resolve("run"), "sb1");
        Bundle bundle = new Bundle(dir, Bundle.json().readTree(
                "{\"process\":{\"user\":{\"uid\":\"1000\",\"gid\":0},\"args\":[\"id\"]},\"root\":{\"path\":\"rootfs\"}}"));
        TaskException e = assertThrows(TaskException.class,
                () -> ShimDaemon.vmSandboxes(paths, cfg.toString(), null).create("sb1", bundle, null, null));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertEquals("config.json of sb1: process.user.uid: expected a number, got string \"1000\"", e.getMessage());
        assertFalse(Files.exists(dir.resolve("run")), "nothing was made for the sandbox");
        assertTrue(debugOn("io.nemu.shim.sandbox.VmSandbox"), "the configuration was resolved and applied first");
    }
}
