package io.nemu.shim.cli;

import io.nemu.firmware.Manifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NemuCliTest {

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new NemuCli());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void imageShowChecksAndPrintsAnImage(@TempDir Path dir) throws Exception {
        List<Manifest.Output> outs = new ArrayList<>();
        for (String name : List.of("initramfs.img", "vmlinux", "vmlinuz")) {
            byte[] data = name.getBytes();
            Files.write(dir.resolve(name), data);
            outs.add(new Manifest.Output(name, data.length,
                    HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data))));
        }
        new Manifest(Manifest.FORMAT_VERSION, "6.1.0-1-amd64", "r", "lz4",
                List.of(new Manifest.Input("deb", "busybox-static", "1", "x")), List.of("a.ko"), List.of(), outs)
                .write(dir);
        Run ok = run("image", "show", "--verify", "--dir", dir.toString());
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("kernel 6.1.0-1-amd64, initramfs lz4"), ok.out());

        Files.delete(dir.resolve("vmlinuz"));
        Run missing = run("image", "show", "--dir", dir.toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains(dir.resolve("vmlinuz") + " is missing"), missing.err());
    }

    @Test
    void badOptionsAreRefusedWithAMessage(@TempDir Path dir) {
        Run r = run("image", "build", "--output", dir.toString(), "--compression", "bz2");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--compression") && r.err().contains("bz2"), r.err());
        Run help = run("image", "build", "--help");
        assertEquals(0, help.code());
        assertTrue(help.out().contains("--agent-jar") && help.out().contains("--cache"), help.out());
    }
}
