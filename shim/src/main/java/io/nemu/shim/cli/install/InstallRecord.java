package io.nemu.shim.cli.install;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@code nemu install} did, kept in the installed tree ({@value #FILE_NAME}) so that {@code nemu uninstall}
 * undoes exactly that.
 *
 * @param containerdConfig the containerd config it edited
 * @param configCreated    whether that file did not exist before
 * @param backup           the copy of the file as it was (null when it was created)
 * @param links            the symlinks it made (in containerd's PATH)
 * @param copied           whether it copied the distribution into the prefix (false: installed in place)
 * @param cdsFor           the prefix the AppCDS archives in lib/ were made for (null: none made)
 */
public record InstallRecord(String containerdConfig, boolean configCreated, String backup, List<String> links,
                            boolean copied, String cdsFor) {
    public static final String FILE_NAME = ".nemu-install.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public InstallRecord {
        links = List.copyOf(links == null ? List.of() : links);
    }

    void write(Path prefix) throws IOException {
        Files.writeString(prefix.resolve(FILE_NAME), JSON.writeValueAsString(this) + "\n");
    }

    /** The record in {@code prefix}, or null when nothing was installed there. */
    static InstallRecord read(Path prefix) throws IOException {
        try {
            return JSON.readValue(Files.readString(prefix.resolve(FILE_NAME)), InstallRecord.class);
        } catch (NoSuchFileException e) {
            return null;
        }
    }
}
