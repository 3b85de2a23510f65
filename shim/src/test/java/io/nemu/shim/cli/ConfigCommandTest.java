package io.nemu.shim.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ConfigCommandTest {
    @TempDir
    Path dir;

    private int run(StringWriter out, StringWriter err, String... args) {
        CommandLine cl = new CommandLine(new NemuCli());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        return cl.execute(args);
    }

    @Test
    void checkPrintsValuesOrTheBadKey() throws Exception {
        Path good = dir.resolve("good.toml");
        Files.writeString(good, "[hypervisor.qemu]\nkernel = \"vmlinux\"\ninitrd = \"initrd\"\nunknown_key = 1\n");
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, run(out, err, "config", "check", good.toString()));
        assertTrue(out.toString().contains("machine virt"), out.toString());
        assertTrue(out.toString().contains("pod annotations allowed: none"), out.toString());
        assertTrue(out.toString().contains(dir.resolve("vmlinux") + "  (missing!)"), out.toString());
        assertTrue(err.toString().contains("unknown key hypervisor.qemu.unknown_key"), err.toString());

        Path bad = dir.resolve("bad.toml");
        Files.writeString(bad, "[hypervisor.qemu]\nkernel = \"k\"\ninitrd = \"i\"\nvirtio_fs_cache = \"maybe\"\n");
        StringWriter err2 = new StringWriter();
        assertEquals(1, run(new StringWriter(), err2, "config", "check", bad.toString()));
        assertTrue(err2.toString().contains("hypervisor.qemu.virtio_fs_cache 'maybe' is not one of"), err2.toString());
    }

    @Test
    void checkSaysWhetherQemuCanApplyItsSeccompSandbox() throws Exception {
        Path qemu = dir.resolve("qemu-without-seccomp");
        Files.writeString(qemu, "#!/bin/sh\necho \"-sandbox: There is no option group 'sandbox'\" >&2\nexit 1\n");
        Files.setPosixFilePermissions(qemu, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        String head = "[hypervisor.qemu]\npath = \"" + qemu + "\"\nkernel = \"k\"\ninitrd = \"i\"\n";
        Path on = Files.writeString(dir.resolve("on.toml"), head);
        StringWriter out = new StringWriter();
        assertEquals(0, run(out, new StringWriter(), "config", "check", on.toString()));
        assertTrue(out.toString().contains("QEMU seccomp sandbox on,obsolete=deny")
                && out.toString().contains("this QEMU cannot apply it"), out.toString());
        Path off = Files.writeString(dir.resolve("off.toml"), head + "seccompsandbox = \"\"\n");
        StringWriter out2 = new StringWriter();
        assertEquals(0, run(out2, new StringWriter(), "config", "check", off.toString()));
        assertTrue(out2.toString().contains("QEMU seccomp sandbox off"), out2.toString());
    }
}
