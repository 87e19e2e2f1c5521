pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()        // com.google.ai.edge.litert:litert is published on Google's Maven
        mavenCentral()
    }
}

rootProject.name = "HashedKerasDemo"
include(":app")
