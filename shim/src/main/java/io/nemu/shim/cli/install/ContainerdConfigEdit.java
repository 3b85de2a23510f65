package io.nemu.shim.cli.install;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.nemu.shim.cli.check.ContainerdCheck;

/**
 * Our runtime's entry in containerd's config.toml as one marked block appended to the file, so that removing
 * the block gives back the file byte for byte. Text in, text out: the files are {@link Installation}'s.
 */
public final class ContainerdConfigEdit {
    /** Starts with a newline of its own: the file's last line may have none, and removal must give it back. */
    static final String BEGIN = "\n# >>> nemu: added by `nemu install`, removed by `nemu uninstall` >>>\n";
    static final String END = "# <<< nemu <<<\n";
    /** The first line of a block added to a file without keys. */
    static final String NEW_FILE_HEAD = "version = 2\n";

    private ContainerdConfigEdit() {
    }

    /** The block for this snippet (the distribution's share/containerd/containerd-nemu.toml, paths filled in). */
    static String block(String snippet, boolean withVersion) {
        return BEGIN + (withVersion ? NEW_FILE_HEAD : "") + snippet + (snippet.endsWith("\n") ? "" : "\n") + END;
    }

    /** Whether {@code text} holds our block. */
    public static boolean installed(String text) {
        return text.contains(BEGIN);
    }

    /**
     * {@code current} (null: no file) with the block added, or with an older block replaced by this one. Refuses a
     * file that is not containerd's version 2 format or that already has a handler nemu of its own. A file without
     * any key (none, or comments only) gets {@code version = 2} inside the block: TOML keys come before tables.
     */
    public static String add(String current, String snippet) throws InstallException {
        String base = current == null ? "" : remove(current);
        JsonNode tree = parse(base, "containerd's config");
        if (tree.size() > 0 && tree.path("version").asInt(1) != 2) {
            throw new InstallException("containerd's config is not version 2 (version = " + tree.path("version").asText("1, by default")
                    + "): convert it with `containerd config migrate` first, or add the snippet by hand");
        }
        if (!ContainerdCheck.nemuHandlers(tree).isEmpty() || tree.path("plugins").path("io.containerd.grpc.v1.cri")
                .path("containerd").path("runtimes").has("nemu")) {
            throw new InstallException("containerd's config already has a runtime nemu of its own: remove it first, or keep it"
                    + " and put only the shim on the PATH");
        }
        String result = base + block(snippet, tree.size() == 0);
        parse(result, "containerd's config with the nemu runtime added");
        return result;
    }

    /** {@code text} without our block: the bytes it had before {@link #add}. */
    public static String remove(String text) {
        int b = text.indexOf(BEGIN);
        if (b < 0) {
            return text;
        }
        int e = text.indexOf(END, b);
        return e < 0 ? text : text.substring(0, b) + text.substring(e + END.length());
    }

    private static JsonNode parse(String text, String what) throws InstallException {
        try {
            JsonNode n = new TomlMapper().readTree(text);
            return n == null ? new TomlMapper().createObjectNode() : n;
        } catch (JacksonException e) {
            throw new InstallException(what + " is not valid TOML: " + e.getOriginalMessage());
        }
    }
}
