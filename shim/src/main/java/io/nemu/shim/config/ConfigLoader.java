package io.nemu.shim.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.CacheMode;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.QemuFeatures;
import io.nemu.vmm.VmConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Reads and checks a Kata-style {@code configuration.toml}. Keys the shim does not know are reported to
 * the warning sink and ignored (a Kata file has many); a key we use with a wrong type or value stops
 * with a {@link ConfigException} naming it, and so does a Kata key set to a value we would not honour
 * (a user must not get other behaviour than the file says). Relative paths are taken from the file's own folder, so a
 * distribution's default file can point at its {@code share/guest} assets wherever it is installed.
 */
public final class ConfigLoader {
    /** Environment variable naming the file when the runtime options carry no ConfigPath. */
    public static final String ENV_CONF_FILE = "NEMU_CONF_FILE";
    /** Environment variable with the distribution's root (set by the launcher). */
    public static final String ENV_HOME = "NEMU_HOME";
    public static final String DEFAULT_RELATIVE = "share/defaults/configuration.toml";
    /** {@code tcg_tb_size} when the file has none (why this value: the shipped configuration.toml). */
    public static final int DEFAULT_TCG_TB_SIZE_MIB = 48;
    /** {@code [factory] clone_tcg_tb_size} when the file has none (why: the shipped configuration.toml). */
    public static final int DEFAULT_CLONE_TCG_TB_SIZE_MIB = 24;

    private static final Set<String> SECTIONS = Set.of("hypervisor", "agent", "runtime", "factory");

    private final Consumer<String> warnings;
    private final Map<String, Setting> settings = new LinkedHashMap<>();

    /** One key as the last load read it: its value and whether the file set it or the default applied. */
    public record Setting(String key, String value, boolean fromFile) {
    }

    public ConfigLoader(Consumer<String> warnings) {
        this.warnings = warnings;
    }

    /** The keys the last {@link #load}/{@link #parse} read, in reading order (for {@code nemu env}). */
    public List<Setting> settings() {
        return List.copyOf(settings.values());
    }

    /** Where the config is: the runtime options' ConfigPath, else NEMU_CONF_FILE, else the distribution default. */
    public static Path locate(String configPathOption, Map<String, String> env) throws ConfigException {
        if (configPathOption != null && !configPathOption.isBlank()) {
            return Path.of(configPathOption);
        }
        String fromEnv = env.get(ENV_CONF_FILE);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return Path.of(fromEnv);
        }
        String home = env.get(ENV_HOME);
        if (home != null && !home.isBlank()) {
            return Path.of(home).resolve(DEFAULT_RELATIVE);
        }
        throw new ConfigException(null, "no configuration.toml: the runtime options name no ConfigPath, "
                + ENV_CONF_FILE + " is not set, and " + ENV_HOME + " (the distribution) is unknown");
    }

    public RuntimeConfig load(Path file) throws ConfigException {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(null, "configuration file " + file + " does not exist");
        } catch (IOException e) {
            throw new ConfigException(null, "cannot read configuration file " + file + ": " + e.getMessage(), e);
        }
        Path base = file.toAbsolutePath().getParent();
        return parse(text, file, base);
    }

    /** Parses TOML text; {@code base} resolves relative paths. */
    public RuntimeConfig parse(String text, Path source, Path base) throws ConfigException {
        JsonNode root;
        try {
            root = new TomlMapper().readTree(text);
        } catch (JacksonException e) {
            throw new ConfigException(null, source + " is not valid TOML: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            root = new TomlMapper().createObjectNode();
        }
        settings.clear();
        Section top = new Section(source, "", (ObjectNode) root, base, settings);
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!SECTIONS.contains(name)) {
                warnings.accept(source + ": unknown section [" + name + "] ignored");
            }
        }
        Section hypervisors = top.table("hypervisor");
        for (String name : hypervisors.names()) {
            if (!name.equals("qemu")) {
                warnings.accept(source + ": [hypervisor." + name + "] ignored: only [hypervisor.qemu] is supported");
            }
        }
        Section q = hypervisors.table("qemu");
        if (!q.present()) {
            throw new ConfigException("hypervisor.qemu", source + ": section [hypervisor.qemu] is missing");
        }
        RuntimeConfig.Hypervisor hv = hypervisor(q);
        Section agents = top.table("agent");
        for (String name : agents.names()) {
            if (!name.equals("kata")) {
                warnings.accept(source + ": [agent." + name + "] ignored: only [agent.kata] is supported");
            }
        }
        Section a = agents.table("kata");
        long dial = a.integer("dial_timeout", 45, 1, 3600);
        // Our files once shipped `debug = false`: still read; true points at the real key.
        unsupported(a, "debug", false, "the agent's debug logs are [agent.kata] enable_debug (Kata's name)");
        if (a.has("agent_socket")) {
            throw a.error("agent_socket", "is not a configuration key: the agent is the guest's (tests reach a"
                    + " host-side agent through the environment variable NEMU_TEST_AGENT_SOCKET)");
        }
        long checkEvery = a.integer("health_check_interval", 10, 1, 3600);
        long checkTimeout = a.integer("health_check_timeout", 30, 1, 3600);
        RuntimeConfig.Agent agent = new RuntimeConfig.Agent(Duration.ofSeconds(dial), Duration.ofSeconds(checkEvery),
                Duration.ofSeconds(checkTimeout), a.bool("enable_debug", false), a.bool("debug_console_enabled", false));
        a.warnUnused(warnings);

        Section r = top.table("runtime");
        String model = r.string("internetworking_model", "tcfilter");
        if (!model.equals("tcfilter")) {
            throw r.error("internetworking_model", "'" + model + "' is not supported by this runtime (yet):"
                    + " only tcfilter");
        }
        unsupported(r, "disable_new_netns", false, "the pod's network is always joined through taps in"
                + " its network namespace (tcfilter)");
        RuntimeConfig.Runtime rt = new RuntimeConfig.Runtime(r.bool("enable_debug", false), model,
                r.bool("sandbox_cgroup_only", true));
        r.warnUnused(warnings);
        Section f = top.table("factory");
        // Kata's [factory] keys: sandboxes cloned from a booted template VM; the path defaults to the run root's.
        // Ours: a clone's own code cache bound (see the shipped configuration.toml for the measured choice).
        RuntimeConfig.Factory factory = new RuntimeConfig.Factory(f.bool("enable_template", false),
                f.path("template_path", null), (int) f.integer("clone_tcg_tb_size", DEFAULT_CLONE_TCG_TB_SIZE_MIB, 0,
                        VmConfig.MAX_TCG_TB_SIZE_MIB));
        f.warnUnused(warnings);
        return new RuntimeConfig(source, hv, agent, rt, factory);
    }

    /** A boolean key of which only {@code supported} works yet; the other value is refused, saying why. */
    private static void unsupported(Section s, String name, boolean supported, String why) throws ConfigException {
        boolean v = s.bool(name, supported);
        if (v != supported) {
            throw s.error(name, "= " + v + " is not supported by this runtime (yet): " + why);
        }
    }

    private RuntimeConfig.Hypervisor hypervisor(Section q) throws ConfigException {
        Path path = q.path("path", Path.of("/usr/bin/qemu-system-x86_64"));
        Path kernel = q.path("kernel", null);
        if (kernel == null) {
            throw q.error("kernel", "is missing: the guest kernel (vmlinux) to boot");
        }
        Path initrd = q.path("initrd", null);
        Path image = q.path("image", null);
        if (image != null && initrd != null) {
            // Kata's rule too: one root. With image, the initramfs that mounts it comes from the image's manifest.
            throw q.error("image", "and initrd are both set: use image (the guest image's root.img, booted with the"
                    + " root-initrd.img beside it) or initrd (a whole-root initramfs such as initramfs.img), not both");
        }
        if (initrd == null && image == null) {
            throw q.error("image", "is missing: the guest root image to boot (root.img), or initrd for an initramfs");
        }
        String machine = q.string("machine_type", "virt");
        MachineProfile profile = switch (machine) {
            case "virt", "microvm" -> MachineProfile.virt();
            case "virt-hotplug", "q35" -> MachineProfile.virtHotplug();
            default -> throw q.error("machine_type", "'" + machine + "' is not one of virt, virt-hotplug"
                    + " (Kata's microvm and q35 are accepted as aliases)");
        };
        String params = q.string("kernel_params", "").strip();
        List<String> kernelParams = params.isEmpty() ? List.of() : Arrays.asList(params.split("\\s+"));
        int vcpus = (int) q.integer("default_vcpus", 1, 1, 255);
        int maxVcpus = (int) q.integer("default_maxvcpus", 0, 0, 255);
        int memory = (int) q.integer("default_memory", 512, 64, 1024 * 1024);
        int slots = (int) q.integer("memory_slots", 0, 0, 256);
        int maxMemory = (int) q.integer("default_maxmemory", 0, 0, 1024 * 1024);
        int rootPorts = (int) q.integer("pcie_root_port", 0, 0, 32);
        boolean virtioMem = q.bool("enable_virtio_mem", false);
        if (!profile.hotplug()) {
            // Kata's defaults name hotplug ceilings; on virt they mean nothing, so they are not an error.
            if ((maxVcpus != 0 && maxVcpus != vcpus) || slots != 0 || (maxMemory != 0 && maxMemory != memory)
                    || rootPorts != 0) {
                warnings.accept(q.source + ": machine_type virt cannot hotplug: default_maxvcpus, memory_slots,"
                        + " default_maxmemory and pcie_root_port are ignored (use virt-hotplug)");
            }
            if (virtioMem) {
                warnings.accept(q.source + ": machine_type virt has no PCI for virtio-mem: enable_virtio_mem is ignored"
                        + " (use virt-hotplug)");
            }
            virtioMem = false;
            maxVcpus = 0;
            slots = 0;
            maxMemory = 0;
            rootPorts = 0;
        } else {
            if (maxVcpus != 0 && maxVcpus < vcpus) {
                throw q.error("default_maxvcpus", "(" + maxVcpus + ") is below default_vcpus (" + vcpus + ")");
            }
            if (maxMemory != 0 && maxMemory < memory) {
                throw q.error("default_maxmemory", "(" + maxMemory + ") is below default_memory (" + memory + ")");
            }
            if (slots > 0 && (maxMemory == 0 || maxMemory == memory)) {
                maxMemory = memory + 2048; // room for hotplugged DIMMs when only slots were given
            }
            if (virtioMem) {
                if (maxMemory <= memory) {
                    throw q.error("enable_virtio_mem", "needs default_maxmemory above default_memory (" + memory
                            + " MiB): the virtio-mem device holds the difference");
                }
                if ((maxMemory - memory) % VmConfig.VIRTIO_MEM_BLOCK_MIB != 0) {
                    throw q.error("default_maxmemory", "minus default_memory must be a multiple of virtio-mem's "
                            + VmConfig.VIRTIO_MEM_BLOCK_MIB + " MiB block, got " + (maxMemory - memory) + " MiB");
                }
            } else if (slots == 0 && maxMemory > memory) {
                throw q.error("memory_slots", "must be > 0 when default_maxmemory exceeds default_memory"
                        + " (or set enable_virtio_mem = true)");
            }
        }
        String fs = q.choice("shared_fs", "virtio-fs", "virtio-fs", "none");
        RuntimeConfig.SharedFs sharedFs = fs.equals("none") ? RuntimeConfig.SharedFs.NONE : RuntimeConfig.SharedFs.VIRTIO_FS;
        Path daemon = q.path("virtio_fs_daemon", Path.of("/usr/lib/qemu/virtiofsd"));
        String cache = q.choice("virtio_fs_cache", "auto", "auto", "always", "none", "never");
        CacheMode cacheMode = CacheMode.parse(cache.equals("never") ? "none" : cache);
        String accel = q.choice("accelerator", "auto", "auto", "kvm", "tcg");
        List<java.util.regex.Pattern> annotations = new ArrayList<>();
        for (String re : q.strings("enable_annotations")) {
            try {
                annotations.add(java.util.regex.Pattern.compile(re));
            } catch (java.util.regex.PatternSyntaxException e) {
                throw q.error("enable_annotations", "entry '" + re + "' is not a regular expression: "
                        + e.getDescription());
            }
        }
        // Kata's key: QEMU's -sandbox options; empty runs QEMU without its seccomp filter, on purpose.
        String seccomp = q.string("seccompsandbox", QemuFeatures.SANDBOX).strip();
        if (!seccomp.isEmpty() && QemuFeatures.sandboxOptionsProblem(seccomp) != null) {
            throw q.error("seccompsandbox", QemuFeatures.sandboxOptionsProblem(seccomp));
        }
        // Ours: TCG's translated-code cache in MiB (QEMU's tb-size); 0 leaves QEMU's default. Unused under KVM.
        int tbSize = (int) q.integer("tcg_tb_size", DEFAULT_TCG_TB_SIZE_MIB, 0, VmConfig.MAX_TCG_TB_SIZE_MIB);
        RuntimeConfig.Hypervisor hv = new RuntimeConfig.Hypervisor(path, kernel, initrd, image, profile, kernelParams, vcpus,
                maxVcpus, memory, slots, maxMemory, rootPorts, sharedFs, daemon, cacheMode, Accelerator.parse(accel),
                q.bool("enable_debug", false), List.copyOf(annotations), q.bool("reclaim_guest_freed_memory", true),
                seccomp.isEmpty() ? null : seccomp, tbSize, q.bool("disable_image_nvdimm", false), virtioMem);
        q.warnUnused(warnings);
        return hv;
    }

    /** One TOML table with the keys read from it remembered, so that the rest can be warned about. */
    private static final class Section {
        private final Path source;
        private final String prefix;
        private final ObjectNode node;
        private final Path base;
        private final List<String> used = new ArrayList<>();
        private final Map<String, Setting> settings;

        Section(Path source, String prefix, ObjectNode node, Path base, Map<String, Setting> settings) {
            this.source = source;
            this.prefix = prefix;
            this.node = node;
            this.base = base;
            this.settings = settings;
        }

        private <T> T record(String name, T value) {
            settings.put(key(name), new Setting(key(name), String.valueOf(value), node != null && node.has(name)));
            return value;
        }

        boolean present() {
            return node != null;
        }

        List<String> names() {
            List<String> n = new ArrayList<>();
            if (node != null) {
                node.fieldNames().forEachRemaining(n::add);
            }
            return n;
        }

        String key(String name) {
            return prefix.isEmpty() ? name : prefix + "." + name;
        }

        ConfigException error(String name, String problem) {
            return new ConfigException(key(name), source + ": " + key(name) + " " + problem);
        }

        Section table(String name) throws ConfigException {
            JsonNode v = node == null ? null : node.get(name);
            used.add(name);
            if (v != null && !v.isObject()) {
                throw error(name, "must be a table, got " + describe(v));
            }
            return new Section(source, key(name), (ObjectNode) v, base, settings);
        }

        boolean has(String name) {
            return get(name) != null;
        }

        private JsonNode get(String name) {
            used.add(name);
            return node == null ? null : node.get(name);
        }

        String string(String name, String dflt) throws ConfigException {
            JsonNode v = get(name);
            if (v == null) {
                return dflt == null ? null : record(name, dflt);
            }
            if (!v.isTextual()) {
                throw error(name, "must be a string, got " + describe(v));
            }
            return record(name, v.asText());
        }

        String choice(String name, String dflt, String... allowed) throws ConfigException {
            String s = string(name, dflt);
            if (!Arrays.asList(allowed).contains(s)) {
                throw error(name, "'" + s + "' is not one of " + String.join(", ", allowed));
            }
            return s;
        }

        Path path(String name, Path dflt) throws ConfigException {
            String s = string(name, null);
            if (s == null || s.isEmpty()) {
                return dflt == null ? null : record(name, dflt);
            }
            if (s.indexOf('\0') >= 0) {
                throw error(name, "contains a NUL byte");
            }
            Path p = Path.of(s);
            return record(name, p.isAbsolute() || base == null ? p : base.resolve(p).normalize());
        }

        long integer(String name, long dflt, long min, long max) throws ConfigException {
            JsonNode v = get(name);
            if (v == null) {
                return record(name, dflt);
            }
            if (!v.isIntegralNumber()) {
                throw error(name, "must be an integer, got " + describe(v));
            }
            long n = v.asLong();
            if (n < min || n > max) {
                throw error(name, "must be " + min + ".." + max + ", got " + n);
            }
            return record(name, n);
        }

        List<String> strings(String name) throws ConfigException {
            JsonNode v = get(name);
            if (v == null) {
                return record(name, List.of());
            }
            if (!v.isArray()) {
                throw error(name, "must be an array of strings, got " + describe(v));
            }
            List<String> out = new ArrayList<>();
            for (JsonNode e : v) {
                if (!e.isTextual()) {
                    throw error(name, "must be an array of strings, has " + describe(e));
                }
                out.add(e.asText());
            }
            return record(name, out);
        }

        boolean bool(String name, boolean dflt) throws ConfigException {
            JsonNode v = get(name);
            if (v == null) {
                return record(name, dflt);
            }
            if (!v.isBoolean()) {
                throw error(name, "must be true or false, got " + describe(v));
            }
            return record(name, v.asBoolean());
        }

        void warnUnused(Consumer<String> warnings) {
            for (String n : names()) {
                if (!used.contains(n)) {
                    warnings.accept(source + ": unknown key " + key(n) + " ignored");
                }
            }
        }

        private static String describe(JsonNode v) {
            return switch (v.getNodeType()) {
                case STRING -> "the string \"" + v.asText() + "\"";
                case NUMBER -> "the number " + v.asText();
                case BOOLEAN -> v.asText();
                case ARRAY -> "an array";
                case OBJECT -> "a table";
                default -> v.getNodeType().toString().toLowerCase();
            };
        }
    }
}
