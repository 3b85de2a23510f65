package io.nemu.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OvmfTest {

    @Test
    void prefersThe4MiBPairAndFallsBackToTheLegacyOne(@TempDir Path dir) throws Exception {
        Files.write(dir.resolve("OVMF_CODE.fd"), new byte[] {1});
        Files.write(dir.resolve("OVMF_VARS.fd"), new byte[] {2});
        assertEquals(new Ovmf(dir.resolve("OVMF_CODE.fd"), dir.resolve("OVMF_VARS.fd")), Ovmf.locate(dir));
        Files.write(dir.resolve("OVMF_CODE_4M.fd"), new byte[] {3});
        Files.write(dir.resolve("OVMF_VARS_4M.fd"), new byte[] {4});
        assertEquals(new Ovmf(dir.resolve("OVMF_CODE_4M.fd"), dir.resolve("OVMF_VARS_4M.fd")), Ovmf.locate(dir));
    }

    @Test
    void missingOvmfSaysWhatToInstall(@TempDir Path dir) throws Exception {
        Files.write(dir.resolve("OVMF_CODE_4M.fd"), new byte[] {3}); // code without its vars is no pair
        FirmwareException e = assertThrows(FirmwareException.class, () -> Ovmf.locate(dir));
        assertTrue(e.getMessage().contains("apt-get install ovmf") && e.getMessage().contains(dir.toString()),
                e.getMessage());
    }

    @Test
    void eachSandboxGetsItsOwnWritableVars(@TempDir Path dir) throws Exception {
        Path fw = Files.createDirectory(dir.resolve("fw"));
        Files.write(fw.resolve("OVMF_CODE_4M.fd"), new byte[] {3});
        Files.write(fw.resolve("OVMF_VARS_4M.fd"), new byte[] {4, 5, 6});
        fw.resolve("OVMF_VARS_4M.fd").toFile().setWritable(false, false);
        Ovmf ovmf = Ovmf.locate(fw);
        Path a = ovmf.copyVarsFor(dir.resolve("sandbox-a"));
        Path b = ovmf.copyVarsFor(dir.resolve("sandbox-b"));
        assertNotEquals(a, b);
        assertArrayEquals(new byte[] {4, 5, 6}, Files.readAllBytes(a));
        assertTrue(Files.isWritable(a));
        Files.write(a, new byte[] {9});
        assertArrayEquals(new byte[] {4, 5, 6}, Files.readAllBytes(b));
        assertArrayEquals(new byte[] {4, 5, 6}, Files.readAllBytes(ovmf.vars()));
    }

    @Test
    void findsDebiansOvmfWhenInstalled() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(Ovmf.DEFAULT_DIR), "ovmf not installed");
        Ovmf ovmf = Ovmf.locate();
        assertTrue(Files.size(ovmf.code()) > 1 << 20, ovmf.toString());
        assertTrue(Files.size(ovmf.vars()) > 0, ovmf.toString());
    }
}
