package io.nemu.vmm.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.NetDevice;
import io.nemu.vmm.VmConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TemplateKeyTest {
    @TempDir
    Path tmp;

    private VmConfig.Builder config(Path kernel) {
        return VmConfig.builder().profile(MachineProfile.virt()).kernel(kernel).runDir(tmp.resolve("run")).vcpus(2)
                .memoryMib(512).qemuBinary(Path.of("/bin/sh"));
    }

    @Test
    void sameConfigurationSameKeyWhateverTheRunAndSharedFolders() throws Exception {
        Path k = Files.writeString(tmp.resolve("vmlinux"), "kernel");
        TemplateKey a = TemplateKey.of(config(k).build(), "img1");
        TemplateKey b = TemplateKey.of(config(k).runDir(tmp.resolve("other")).sharedDir(tmp).sharedTag("t").build(), "img1");
        assertEquals(a.profile(), "virt");
        assertTrue(a.name().startsWith("virt-2c-512m-0n-"), a.name());
        assertEquals(a.name().length(), "virt-2c-512m-0n-".length() + 16);
        // A shared folder is part of the device set; which folder is not.
        TemplateKey c = TemplateKey.of(config(k).runDir(tmp.resolve("x")).sharedDir(tmp.resolve("y")).sharedTag("t")
                .build(), "img1");
        assertEquals(b, c);
        assertNotEquals(a, b);
    }

    @Test
    void aChangedImageKernelWordOrFileMakesAnotherKey() throws Exception {
        Path k = Files.writeString(tmp.resolve("vmlinux"), "kernel");
        TemplateKey a = TemplateKey.of(config(k).build(), "img1");
        assertNotEquals(a.name(), TemplateKey.of(config(k).build(), "img2").name());
        assertNotEquals(a.name(), TemplateKey.of(config(k).kernelArg("quiet").build(), "img1").name());
        Files.setLastModifiedTime(k, FileTime.fromMillis(Files.getLastModifiedTime(k).toMillis() + 5000));
        TemplateKey touched = TemplateKey.of(config(k).build(), "img1");
        assertNotEquals(a.name(), touched.name());
        assertEquals(a.shape(), touched.shape());
        assertNotEquals(a.shape(), TemplateKey.of(config(k).memoryMib(1024).build(), "img1").shape());
    }

    @Test
    void theNumberOfNicsCountsNotTheirTapsMacsOrNamespace() throws Exception {
        Path k = Files.writeString(tmp.resolve("vmlinux"), "kernel");
        TemplateKey none = TemplateKey.of(config(k).build(), "img1");
        TemplateKey podA = TemplateKey.of(config(k).netns(tmp.resolve("nsA"))
                .netDevice(new NetDevice("net0", "tap0_kata", "d2:04:8e:79:3b:ad")).build(), "img1");
        TemplateKey podB = TemplateKey.of(config(k).netns(tmp.resolve("nsB"))
                .netDevice(new NetDevice("net0", "tap0_kata", "0a:58:0a:00:00:07")).build(), "img1");
        TemplateKey two = TemplateKey.of(config(k).netns(tmp.resolve("nsA"))
                .netDevice(new NetDevice("net0", "tap0_kata", "d2:04:8e:79:3b:ad"))
                .netDevice(new NetDevice("net1", "tap1_kata", "d2:04:8e:79:3b:ae")).build(), "img1");
        assertEquals(podA, podB);
        assertNotEquals(none.name(), podA.name());
        assertNotEquals(podA.name(), two.name());
        // Pods of another NIC count need their own template: not a stale version of this one.
        assertNotEquals(podA.shape(), two.shape());
        assertTrue(two.name().startsWith("virt-2c-512m-2n-"), two.name());
    }

    @Test
    void templateNicMacsAreUnicastLocalAndOnePerIndex() {
        assertEquals("02:6e:65:6d:75:00", TemplateNics.mac(0));
        assertEquals("02:6e:65:6d:75:01", new NetDevice("net1", "tap1_kata", TemplateNics.mac(1)).mac());
        assertThrows(IllegalArgumentException.class, () -> TemplateNics.mac(256));
    }

    @Test
    void anImageIdThatIsNoWordIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new TemplateKey("a b", "virt", 1, 512, 0, "00"));
        assertThrows(IllegalArgumentException.class, () -> new TemplateKey("", "virt", 1, 512, 0, "00"));
    }
}
