package io.nemu.shim.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import io.grpc.Status;
import io.nemu.proto.containerd.runtimeoptions.v1.Options;
import io.nemu.shim.errdefs.TaskException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The daemon's one resolution of the configuration for its sandbox. */
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
}
