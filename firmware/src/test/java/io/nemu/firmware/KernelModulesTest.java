package io.nemu.firmware;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelModulesTest {

    /** A minimal ELF64 relocatable with a .modinfo section holding {@code modinfo} and a .shstrtab. */
    static byte[] fakeModule(String modinfo) {
        byte[] info = modinfo.replace(';', '\0').getBytes(StandardCharsets.UTF_8);
        byte[] names = "\0.modinfo\0.shstrtab\0".getBytes(StandardCharsets.UTF_8);
        int infoOff = 64;
        int namesOff = infoOff + info.length;
        int shoff = (namesOff + names.length + 7) & ~7;
        ByteBuffer b = ByteBuffer.allocate(shoff + 3 * 64).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1});
        b.putShort(16, (short) 1);          // ET_REL
        b.putShort(18, (short) 62);         // EM_X86_64
        b.putLong(0x28, shoff);
        b.putShort(0x34, (short) 64);
        b.putShort(0x3A, (short) 64);
        b.putShort(0x3C, (short) 3);
        b.putShort(0x3E, (short) 2);
        b.put(infoOff, info);
        b.put(namesOff, names);
        section(b, shoff + 64, 1, infoOff, info.length);    // .modinfo
        section(b, shoff + 128, 10, namesOff, names.length); // .shstrtab
        return b.array();
    }

    private static void section(ByteBuffer b, int at, int name, long off, long size) {
        b.putInt(at, name);
        b.putInt(at + 4, 1);
        b.putLong(at + 24, off);
        b.putLong(at + 32, size);
    }

    @Test
    void readsModinfoFromElf(@TempDir Path dir) throws IOException {
        Path ko = dir.resolve("m.ko");
        Files.write(ko, fakeModule("license=GPL;depends=a,b-c;name=m;"));
        var info = KernelModules.modinfo(ko);
        assertEquals("a,b-c", info.get("depends"));
        assertEquals("m", info.get("name"));
    }

    @Test
    void generatesModulesDepFromTheModulesWhenThePackageShipsNone(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("kernel/x"));
        Files.write(dir.resolve("kernel/x/base.ko"), fakeModule("depends=;name=base;"));
        Files.write(dir.resolve("kernel/x/mid.ko"), fakeModule("depends=base;name=mid;"));
        Files.write(dir.resolve("kernel/x/top-level.ko"), fakeModule("depends=mid,base;name=top_level;"));
        Files.writeString(dir.resolve("modules.builtin"), "kernel/y/builtin_one.ko\n");

        ModulesDep dep = KernelModules.modulesDep(dir);
        ModulesDep.Resolution r = dep.resolve(List.of("top_level", "builtin-one"), KernelModules.builtin(dir));
        assertEquals(List.of("kernel/x/base.ko", "kernel/x/mid.ko", "kernel/x/top-level.ko"), r.loadOrder());
        assertEquals(List.of("builtin-one"), r.builtin());
        // whole closure, nearest first, as depmod writes it
        assertEquals("kernel/x/top-level.ko: kernel/x/mid.ko kernel/x/base.ko\n",
                dep.format(List.of("kernel/x/top-level.ko")));
    }

    @Test
    void missingDependencyAndBrokenElfAreNamed(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("kernel"));
        Files.write(dir.resolve("kernel/a.ko"), fakeModule("depends=ghost;"));
        FirmwareException e = assertThrows(FirmwareException.class, () -> KernelModules.modulesDep(dir));
        assertTrue(e.getMessage().contains("ghost") && e.getMessage().contains("a.ko"), e.getMessage());

        Files.write(dir.resolve("kernel/a.ko"), new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0});
        FirmwareException t = assertThrows(FirmwareException.class, () -> KernelModules.modulesDep(dir));
        assertTrue(t.getMessage().contains("a.ko"), t.getMessage());
        assertThrows(FirmwareException.class, () -> KernelModules.builtin(dir.resolve("nowhere")));
    }
}
