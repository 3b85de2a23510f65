package io.nemu.firmware;

import org.tukaani.xz.XZInputStream;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The module tree of an unpacked kernel package ({@code lib/modules/REL}). Debian ships no
 * {@code modules.dep} in the package (depmod makes it on install), so when it is absent this class
 * builds one from the {@code depends=} entry that modpost writes into each module's {@code .modinfo}.
 */
public final class KernelModules {

    private KernelModules() {
    }

    /** modules.dep of the tree: the shipped file if there is one, else generated from the modules. */
    public static ModulesDep modulesDep(Path moduleDir) throws IOException {
        Path shipped = moduleDir.resolve("modules.dep");
        if (Files.isRegularFile(shipped)) {
            try (var r = Files.newBufferedReader(shipped)) {
                return ModulesDep.parse(r);
            }
        }
        return generate(moduleDir);
    }

    /** Names of the built-in modules, from {@code modules.builtin}. */
    public static Set<String> builtin(Path moduleDir) throws IOException {
        Path f = moduleDir.resolve("modules.builtin");
        Set<String> names = new HashSet<>();
        try {
            for (String line : Files.readAllLines(f)) {
                if (!line.isBlank()) {
                    names.add(ModulesDep.moduleName(line.trim()));
                }
            }
        } catch (NoSuchFileException e) {
            throw new FirmwareException("kernel package has no " + f + ": not a complete module tree", e);
        }
        return names;
    }

    static ModulesDep generate(Path moduleDir) throws IOException {
        Map<String, String> pathByName = new TreeMap<>();
        Map<String, List<String>> dependsByPath = new TreeMap<>();
        Path kernel = moduleDir.resolve("kernel");
        if (!Files.isDirectory(kernel)) {
            throw new FirmwareException("kernel package has no module directory " + kernel);
        }
        List<Path> files;
        try (Stream<Path> s = Files.walk(kernel)) {
            files = s.filter(p -> {
                String n = p.getFileName().toString();
                return n.endsWith(".ko") || n.endsWith(".ko.xz");
            }).sorted().toList();
        }
        for (Path f : files) {
            String rel = moduleDir.relativize(f).toString();
            pathByName.put(ModulesDep.moduleName(rel), rel);
            String deps = modinfo(f).getOrDefault("depends", "");
            dependsByPath.put(rel, deps.isEmpty() ? List.of() : List.of(deps.split(",")));
        }
        Map<String, List<String>> direct = new LinkedHashMap<>();
        for (var e : dependsByPath.entrySet()) {
            List<String> paths = new ArrayList<>();
            for (String dep : e.getValue()) {
                String p = pathByName.get(ModulesDep.normalize(dep));
                if (p == null) {
                    throw new FirmwareException("module " + e.getKey() + " depends on " + dep
                            + ", which is not in " + kernel);
                }
                paths.add(p);
            }
            direct.put(e.getKey(), paths);
        }
        // depmod lists every module's whole closure, nearest first; do the same so busybox modprobe works too.
        ModulesDep directTable = new ModulesDep(direct);
        Map<String, List<String>> closure = new LinkedHashMap<>();
        for (String path : direct.keySet()) {
            List<String> order = new ArrayList<>(
                    directTable.resolve(List.of(ModulesDep.moduleName(path)), Set.of()).loadOrder());
            order.remove(path);
            java.util.Collections.reverse(order);
            closure.put(path, order);
        }
        return new ModulesDep(closure);
    }

    /** The key=value pairs of a module's {@code .modinfo} ELF section. */
    static Map<String, String> modinfo(Path ko) throws IOException {
        byte[] section;
        if (ko.getFileName().toString().endsWith(".xz")) {
            byte[] all;
            try (InputStream in = new XZInputStream(Files.newInputStream(ko))) {
                all = in.readAllBytes();
            }
            section = modinfoSection(ByteBuffer.wrap(all), ko);
        } else {
            try (FileChannel ch = FileChannel.open(ko, StandardOpenOption.READ)) {
                section = modinfoSection(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()), ko);
            }
        }
        Map<String, String> info = new LinkedHashMap<>();
        int start = 0;
        for (int i = 0; i <= section.length; i++) {
            if (i == section.length || section[i] == 0) {
                if (i > start) {
                    String kv = new String(section, start, i - start, StandardCharsets.UTF_8);
                    int eq = kv.indexOf('=');
                    if (eq > 0) {
                        info.putIfAbsent(kv.substring(0, eq), kv.substring(eq + 1));
                    }
                }
                start = i + 1;
            }
        }
        return info;
    }

    private static byte[] modinfoSection(ByteBuffer elf, Path ko) throws FirmwareException {
        try {
            elf.order(ByteOrder.LITTLE_ENDIAN);
            if (elf.getInt(0) != 0x464c457f || elf.get(4) != 2 || elf.get(5) != 1) {
                throw new FirmwareException(ko + " is not a little-endian ELF64 kernel module");
            }
            long shoff = elf.getLong(0x28);
            int shentsize = Short.toUnsignedInt(elf.getShort(0x3A));
            int shnum = Short.toUnsignedInt(elf.getShort(0x3C));
            int shstrndx = Short.toUnsignedInt(elf.getShort(0x3E));
            int strtabOff = (int) elf.getLong((int) (shoff + (long) shstrndx * shentsize) + 24);
            for (int i = 0; i < shnum; i++) {
                int sh = (int) (shoff + (long) i * shentsize);
                int nameOff = strtabOff + elf.getInt(sh);
                if (cstringEquals(elf, nameOff, ".modinfo")) {
                    int off = (int) elf.getLong(sh + 24);
                    int size = (int) elf.getLong(sh + 32);
                    byte[] out = new byte[size];
                    elf.get(off, out);
                    return out;
                }
            }
            throw new FirmwareException(ko + " has no .modinfo section");
        } catch (IndexOutOfBoundsException e) {
            throw new FirmwareException(ko + " is a truncated or corrupt ELF file", e);
        }
    }

    private static boolean cstringEquals(ByteBuffer b, int off, String s) {
        for (int i = 0; i < s.length(); i++) {
            if (b.get(off + i) != s.charAt(i)) {
                return false;
            }
        }
        return b.get(off + s.length()) == 0;
    }
}
